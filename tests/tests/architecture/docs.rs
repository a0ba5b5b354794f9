//! docs/extending.md says what CI runs and which dependencies the layers allow: both lists
//! are checked here against their sources (`.ci/run`, and the allowlists of `layers`), so
//! the guide cannot drift from them.

use std::path::Path;

use crate::layers::{DOMAIN_EXTERNAL, FRAMEWORKS};

fn read(relative: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The text of the section of `markdown` under the heading `title`.
fn section<'a>(markdown: &'a str, title: &str) -> &'a str {
    let start = markdown
        .find(&format!("\n{title}\n"))
        .unwrap_or_else(|| panic!("no section {title}"));
    let rest = &markdown[start + title.len() + 2..];
    rest.find("\n## ").map_or(rest, |end| &rest[..end])
}

/// The commands of a CI script that run checks: each `cargo …` or `bash tests/…` line (the
/// command from its first word, an environment prefix and a line continuation left out).
fn ci_commands(script: &str) -> Vec<String> {
    script
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#') && !line.starts_with("section"))
        .filter_map(|line| {
            let at = line.find("cargo ").or_else(|| line.find("bash tests/"))?;
            Some(line[at..].trim_end_matches('\\').trim().to_owned())
        })
        .collect()
}

/// The backquoted commands that open the items of a Markdown list.
fn listed_commands(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("- `"))
        .filter_map(|rest| rest.split_once('`').map(|(command, _)| command.to_owned()))
        .filter(|command| command.starts_with("cargo ") || command.starts_with("bash "))
        .collect()
}

/// The names in backquotes inside the parentheses after `marker` in `text`.
fn names_after(text: &str, marker: &str) -> Vec<String> {
    let start = text.find(marker).unwrap_or_else(|| panic!("no {marker}")) + marker.len();
    let rest = &text[start..];
    let open = rest.find('(').expect("a list in parentheses");
    let close = rest[open..].find(')').expect("its end") + open;
    rest[open + 1..close]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_guide_lists_cis_steps_in_order() {
    let guide = read("docs/extending.md");
    let listed = listed_commands(section(&guide, "## The checks CI runs"));
    let run = ci_commands(&read(".ci/run"));
    assert!(run.len() >= 9, "{run:?}");
    assert_eq!(
        listed, run,
        "docs/extending.md's CI steps should be, in order:\n{run:#?}"
    );
}

#[test]
fn the_guide_lists_the_allowlists_as_the_test_holds_them() {
    let guide = read("docs/extending.md");
    let text = section(&guide, "## The checks CI runs");
    assert_eq!(names_after(text, "`DOMAIN_EXTERNAL`"), DOMAIN_EXTERNAL);
    assert_eq!(names_after(text, "`FRAMEWORKS`"), FRAMEWORKS);
}

/// The readers above find what they should, and notice a change.
#[test]
fn the_readers_see_a_planted_difference() {
    let script = "section \"x\"\ncargo fmt --all --check\nFOO=1 \\\n  cargo test -p a -- --ignored\n# cargo no\nbash tests/x/run.sh all\n";
    assert_eq!(
        ci_commands(script),
        [
            "cargo fmt --all --check",
            "cargo test -p a -- --ignored",
            "bash tests/x/run.sh all"
        ]
    );
    let list = "- `cargo fmt --all --check`\n- `bash tests/x/run.sh all`: y\n  - `cargo nested`\n";
    assert_eq!(
        listed_commands(list),
        ["cargo fmt --all --check", "bash tests/x/run.sh all"]
    );
    assert_eq!(names_after("the `L` (`a`, `b-c`) and", "`L`"), ["a", "b-c"]);
}
