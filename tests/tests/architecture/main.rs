//! The workspace's shape, read from its manifests and sources rather than run: dependencies
//! point inward only (`layers`), no crate's modules import each other in a cycle
//! (`modules`), and the contributors' guide lists these rules and CI's steps as they are
//! (`docs`).

mod docs;
mod layers;
mod modules;

/// `cargo metadata` of the workspace, its dependencies left out.
pub fn workspace_metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
