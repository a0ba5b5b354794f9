//! The `gatehouse` binary's subcommands, run as a user would run them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
const SECRET: &str = "a-secret-of-more-than-32-bytes-for-cli-tests";

/// A command in `dir` with no GATEHOUSE settings inherited from the caller's environment.
fn gatehouse(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("GATEHOUSE") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "info");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

fn run_with_stdin(command: &mut Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn openapi_prints_the_served_document() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&mut gatehouse(dir.path(), &["openapi"]));
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let expected = serde_json::to_value(gatehouse_api::openapi::document()).unwrap();
    assert_eq!(printed, expected);
}

#[test]
fn gen_secret_prints_a_fresh_256_bit_secret() {
    let dir = tempfile::tempdir().unwrap();
    let first = text(&run(&mut gatehouse(dir.path(), &["gen-secret"])).stdout);
    let second = text(&run(&mut gatehouse(dir.path(), &["gen-secret"])).stdout);
    assert_eq!(first.trim().len(), 64);
    assert!(first.trim().chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(first, second);
}

#[test]
fn config_layers_file_then_environment_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gatehouse.toml"),
        "[server]\nport = 9001\nhost = \"0.0.0.0\"\n[database]\nurl = \"postgres://app:hunter2@db/gh\"\n",
    )
    .unwrap();
    let output = run(
        gatehouse(dir.path(), &["--config", "gatehouse.toml", "config"])
            .env("GATEHOUSE__SERVER__PORT", "9123")
            .env("GATEHOUSE__JWT__SECRET", SECRET)
            .env("GATEHOUSE__PASSWORD__MEMORY_KIB", "65536"),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let shown = text(&output.stdout);
    assert!(shown.contains("port = 9123"), "{shown}");
    assert!(shown.contains("host = \"0.0.0.0\""), "{shown}");
    assert!(shown.contains("memory_kib = 65536"), "{shown}");
    assert!(shown.contains("[REDACTED]"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");

    // GATEHOUSE_CONFIG names the file too.
    let output = run(gatehouse(dir.path(), &["config"]).env("GATEHOUSE_CONFIG", "gatehouse.toml"));
    assert!(text(&output.stdout).contains("port = 9001"));
}

#[test]
fn production_refuses_missing_short_and_well_known_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (None, "no JWT secret is configured"),
        (Some("too-short"), "shorter than the 32"),
        (
            Some("09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"),
            "well-known",
        ),
    ];
    for (secret, expected) in cases {
        let mut command = gatehouse(dir.path(), &["serve"]);
        command
            .env("GATEHOUSE__PROFILE", "production")
            .env("GATEHOUSE__SERVER__PORT", "0");
        if let Some(secret) = secret {
            command.env("GATEHOUSE__JWT__SECRET", secret);
        }
        let output = run(&mut command);
        assert!(!output.status.success());
        let stderr = text(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(stderr.contains("GATEHOUSE__JWT__SECRET"), "{stderr}");
        if let Some(secret) = secret {
            assert!(!stderr.contains(secret), "the secret was echoed: {stderr}");
        }
    }
}

/// `(state, name)` of each line `gatehouse migrate …` prints.
fn migration_states(output: &Output) -> Vec<(String, String)> {
    text(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once(char::is_whitespace))
        .map(|(state, name)| (state.to_owned(), name.trim().to_owned()))
        .collect()
}

#[test]
fn migrate_up_status_and_down() {
    let dir = tempfile::tempdir().unwrap();
    let status = migration_states(&run(&mut gatehouse(dir.path(), &["migrate", "status"])));
    assert!(status.len() >= 4, "{status:?}");
    assert!(
        status.iter().all(|(state, _)| state == "pending"),
        "{status:?}"
    );
    assert_eq!(status[0].1, "m20261123_000001_create_users");

    let up = run(&mut gatehouse(dir.path(), &["migrate", "up"]));
    assert!(up.status.success(), "{}", text(&up.stderr));
    assert!(
        migration_states(&up)
            .iter()
            .all(|(state, _)| state == "applied")
    );

    let down = migration_states(&run(&mut gatehouse(dir.path(), &["migrate", "down"])));
    let (last, rest) = down.split_last().unwrap();
    assert_eq!(last.0, "pending", "{down:?}");
    assert!(rest.iter().all(|(state, _)| state == "applied"), "{down:?}");

    let steps = rest.len().to_string();
    let all_down = run(&mut gatehouse(
        dir.path(),
        &["migrate", "down", "--steps", &steps],
    ));
    assert!(
        migration_states(&all_down)
            .iter()
            .all(|(state, _)| state == "pending")
    );
    assert!(dir.path().join("data/gatehouse.db").exists());
}

fn http(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn create_admin_then_serve_and_log_in_as_admin() {
    let dir = tempfile::tempdir().unwrap();
    let weak = run_with_stdin(
        &mut gatehouse(dir.path(), &["create-admin", "--email", "root@example.com"]),
        "password\n",
    );
    assert!(!weak.status.success());
    assert!(text(&weak.stderr).contains("password is too common"));

    let created = run_with_stdin(
        &mut gatehouse(dir.path(), &["create-admin", "--email", "Root@Example.com"]),
        "correct horse battery staple\n",
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(text(&created.stdout).contains("created admin root@example.com"));
    let again = run_with_stdin(
        &mut gatehouse(dir.path(), &["create-admin", "--email", "root@example.com"]),
        "correct horse battery staple\n",
    );
    assert!(!again.status.success());

    // The development secret was generated once, private to its owner.
    let secret_file = dir.path().join("data/jwt-secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(std::fs::read_to_string(&secret_file).unwrap().len() >= 32);

    let mut server = gatehouse(dir.path(), &["serve"])
        .env("GATEHOUSE__SERVER__PORT", "0")
        .env("GATEHOUSE__LOG__FORMAT", "json")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let started = Instant::now();
    let port = loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        let line = lines.next().expect("server output").unwrap();
        if line.contains("gatehouse is listening") {
            let address = line.split("http://127.0.0.1:").nth(1).unwrap();
            let digits: String = address.chars().take_while(char::is_ascii_digit).collect();
            break digits.parse::<u16>().unwrap();
        }
    };
    let body =
        "grant_type=password&username=root%40example.com&password=correct+horse+battery+staple";
    let response = http(
        port,
        &format!(
            "POST /api/v1/auth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    server.kill().ok();
    server.wait().ok();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("users:read users:write"), "{response}");
}
