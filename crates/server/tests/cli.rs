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
            .env("GATEHOUSE__PASSWORD__MEMORY_KIB", "65536")
            .env("GATEHOUSE__SERVER__TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2")
            .env("GATEHOUSE__AUTH__REQUIRE_VERIFIED_EMAIL", "true")
            .env("GATEHOUSE__MAIL__SMTP_PASSWORD", "0123456789"),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let shown = text(&output.stdout);
    assert!(shown.contains("port = 9123"), "{shown}");
    assert!(shown.contains("host = \"0.0.0.0\""), "{shown}");
    assert!(shown.contains("memory_kib = 65536"), "{shown}");
    assert!(shown.contains("[REDACTED]"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("postgres://app:***@db/gh"), "{shown}");
    assert!(
        shown.contains(r#"trusted_proxies = ["10.0.0.1", "10.0.0.2"]"#),
        "{shown}"
    );
    assert!(shown.contains("require_verified_email = true"), "{shown}");
    assert!(!shown.contains("0123456789"), "{shown}");

    // GATEHOUSE_CONFIG names the file too.
    let output = run(gatehouse(dir.path(), &["config"]).env("GATEHOUSE_CONFIG", "gatehouse.toml"));
    assert!(text(&output.stdout).contains("port = 9001"));
}

#[test]
fn production_refuses_to_start_without_a_strong_mfa_key() {
    let dir = tempfile::tempdir().unwrap();
    for (key, expected) in [
        (None, "no MFA encryption key is configured"),
        (Some("too-short"), "shorter than 32"),
    ] {
        let mut command = gatehouse(dir.path(), &["serve"]);
        command
            .env("GATEHOUSE__PROFILE", "production")
            .env("GATEHOUSE__SERVER__PORT", "0")
            .env(
                "GATEHOUSE__JWT__SECRET",
                "a production secret 0123456789abcdef0123456789",
            );
        if let Some(key) = key {
            command.env("GATEHOUSE__MFA__ENCRYPTION_KEY", key);
        }
        let output = run(&mut command);
        assert!(!output.status.success());
        let stderr = text(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(
            stderr.contains("GATEHOUSE__MFA__ENCRYPTION_KEY"),
            "{stderr}"
        );
        if let Some(key) = key {
            assert!(!stderr.contains(key), "the key was echoed: {stderr}");
        }
    }
    // Nothing was generated for production to fall back on.
    assert!(!dir.path().join("data/mfa-key").exists());
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

/// The port a `serve` child reports in its JSON log once it listens; the rest of its log is
/// drained on a thread.
fn listening_port(server: &mut std::process::Child) -> u16 {
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        let line = lines.next().expect("server output").unwrap();
        if line.contains("gatehouse is listening") {
            let address = line.split("http://127.0.0.1:").nth(1).unwrap();
            let digits: String = address.chars().take_while(char::is_ascii_digit).collect();
            // Keep reading the log, so the server never writes to a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return digits.parse::<u16>().unwrap();
        }
    }
}

/// A password grant for `email` over a raw connection; the whole answer.
fn password_grant(port: u16, email: &str, password: &str) -> String {
    let body = format!(
        "grant_type=password&username={}&password={}",
        email.replace('@', "%40"),
        password.replace(' ', "+")
    );
    http(
        port,
        &format!(
            "POST /api/v1/auth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
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
    let port = listening_port(&mut server);
    let response = password_grant(port, "root@example.com", "correct horse battery staple");
    server.kill().ok();
    server.wait().ok();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let admin_scopes = gatehouse_domain::ScopeSet::all_for(gatehouse_domain::Role::Admin);
    assert!(
        response.contains(&format!(r#""scope":"{admin_scopes}""#)),
        "{response}"
    );
}

#[test]
fn import_users_checks_every_line_then_imports_once_and_logins_upgrade_the_hashes() {
    use argon2::PasswordHasher as _;
    let dir = tempfile::tempdir().unwrap();
    let bcrypt_hash = bcrypt::hash("bcrypt user password", 4).unwrap();
    let argon2i_hash = argon2::Argon2::new(
        argon2::Algorithm::Argon2i,
        argon2::Version::V0x13,
        argon2::Params::new(8192, 3, 1, None).unwrap(),
    )
    .hash_password(b"argon2i user password")
    .unwrap()
    .to_string();
    let good_bcrypt = serde_json::json!({"email": "Old.Bcrypt@example.com", "hashed_password": bcrypt_hash, "full_name": "Old"});
    let good_argon = serde_json::json!({"email": "argon@example.com", "hashed_password": argon2i_hash, "role": "admin", "is_active": true});
    let bad = [
        good_bcrypt.to_string(),
        r#"{"email": "not-an-email", "hashed_password": "$2b$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"}"#.to_owned(),
        r#"{"email": "plain@example.com", "hashed_password": "hunter2"}"#.to_owned(),
        "{not json".to_owned(),
        good_argon.to_string(),
    ];
    std::fs::write(dir.path().join("bad.jsonl"), bad.join("\n")).unwrap();
    let output = run(&mut gatehouse(dir.path(), &["import-users", "bad.jsonl"]));
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    for line in [
        "line 2: email",
        "line 3: hashed_password",
        "line 4: not a valid record",
    ] {
        assert!(stderr.contains(line), "{line} missing: {stderr}");
    }
    assert!(!stderr.contains("hunter2"), "a hash was echoed: {stderr}");
    assert!(stderr.contains("nothing was imported"));

    let good = format!("{good_bcrypt}\n\n{good_argon}\n");
    std::fs::write(dir.path().join("good.jsonl"), good).unwrap();
    let first = run(&mut gatehouse(dir.path(), &["import-users", "good.jsonl"]));
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains("imported 2 user(s), skipped 0"));
    let second = run(&mut gatehouse(dir.path(), &["import-users", "good.jsonl"]));
    assert!(text(&second.stdout).contains("imported 0 user(s), skipped 2"));

    let mut server = gatehouse(dir.path(), &["serve"])
        .env("GATEHOUSE__SERVER__PORT", "0")
        .env("GATEHOUSE__LOG__FORMAT", "json")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let port = listening_port(&mut server);
    let login = |email: &str, password: &str| password_grant(port, email, password);
    let bcrypt_login = login("old.bcrypt@example.com", "bcrypt user password");
    let bcrypt_again = login("old.bcrypt@example.com", "bcrypt user password");
    let argon_login = login("argon@example.com", "argon2i user password");
    let wrong = login("argon@example.com", "argon2i user passwordX");
    server.kill().ok();
    server.wait().ok();
    assert!(bcrypt_login.starts_with("HTTP/1.1 200"), "{bcrypt_login}");
    assert!(
        bcrypt_again.starts_with("HTTP/1.1 200"),
        "after the upgrade: {bcrypt_again}"
    );
    assert!(argon_login.starts_with("HTTP/1.1 200"), "{argon_login}");
    assert!(
        argon_login.contains("users:read"),
        "the imported role holds: {argon_login}"
    );
    assert!(wrong.starts_with("HTTP/1.1 400"), "{wrong}");
}

#[test]
fn gen_key_writes_a_private_key_only_its_owner_reads_and_the_server_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&mut gatehouse(dir.path(), &["gen-key", "--dir", "keys"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let private = dir.path().join("keys/jwt-ed25519.pem");
    let public = std::fs::read_to_string(dir.path().join("keys/jwt-ed25519.pub.pem")).unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert!(text(&output.stdout).contains("kid "));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // It refuses to overwrite a key.
    let again = run(&mut gatehouse(dir.path(), &["gen-key", "--dir", "keys"]));
    assert!(!again.status.success());

    let config = run(gatehouse(dir.path(), &["config"])
        .env("GATEHOUSE__JWT__ALGORITHM", "EdDSA")
        .env("GATEHOUSE__JWT__PRIVATE_KEY_FILE", "keys/jwt-ed25519.pem"));
    assert!(
        text(&config.stdout).contains("algorithm = \"EdDSA\""),
        "{}",
        text(&config.stdout)
    );
    // Production with EdDSA needs no HS256 secret.
    let output = run(gatehouse(dir.path(), &["migrate", "status"])
        .env("GATEHOUSE__PROFILE", "production")
        .env("GATEHOUSE__JWT__ALGORITHM", "EdDSA")
        .env("GATEHOUSE__JWT__PRIVATE_KEY_FILE", "keys/jwt-ed25519.pem"));
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[test]
fn clients_add_list_and_remove_and_a_secret_is_shown_once() {
    let dir = tempfile::tempdir().unwrap();
    let env = |command: &mut Command| {
        command.env("GATEHOUSE__JWT__SECRET", SECRET);
    };
    let mut add = gatehouse(
        dir.path(),
        &[
            "clients",
            "add",
            "--id",
            "backend",
            "--name",
            "Backend",
            "--redirect-uri",
            "https://backend.example.com/cb",
        ],
    );
    env(&mut add);
    let output = run(&mut add);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let secret = stdout
        .lines()
        .find_map(|line| line.strip_prefix("client_secret: "))
        .expect("the secret is printed")
        .trim()
        .to_owned();
    assert_eq!(secret.len(), 43, "256 bits, URL-safe base64");

    let mut public = gatehouse(
        dir.path(),
        &[
            "clients",
            "add",
            "--id",
            "spa",
            "--name",
            "SPA",
            "--public",
            "--first-party",
            "--redirect-uri",
            "http://127.0.0.1/callback",
        ],
    );
    env(&mut public);
    let output = run(&mut public);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        !text(&output.stdout).contains("client_secret"),
        "public clients have none"
    );

    // Bad input is refused with the field named, and stores nothing.
    let mut bad = gatehouse(
        dir.path(),
        &[
            "clients",
            "add",
            "--id",
            "bad id",
            "--name",
            "x",
            "--redirect-uri",
            "http://evil.test/",
        ],
    );
    env(&mut bad);
    let output = run(&mut bad);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("id:") && stderr.contains("redirect_uris:"),
        "{stderr}"
    );

    let mut list = gatehouse(dir.path(), &["clients", "list"]);
    env(&mut list);
    let listed = text(&run(&mut list).stdout);
    assert!(listed.contains("backend\tconfidential"), "{listed}");
    assert!(
        listed.contains("spa\tpublic\tSPA (first party)"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "the secret is never shown again");
    // Only the secret's digest is stored (the database and its write-ahead log).
    for file in ["data/gatehouse.db", "data/gatehouse.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in {file}"
        );
    }

    // A new secret for the confidential client, printed once; a public one has none.
    let mut rotate = gatehouse(
        dir.path(),
        &[
            "clients",
            "rotate-secret",
            "backend",
            "--overlap-hours",
            "1",
        ],
    );
    env(&mut rotate);
    let output = run(&mut rotate);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let rotated = text(&output.stdout);
    let new_secret = rotated
        .lines()
        .find_map(|line| line.strip_prefix("client_secret: "))
        .expect("the new secret is printed")
        .trim()
        .to_owned();
    assert_ne!(new_secret, secret);
    assert!(rotated.contains("accepted until"), "{rotated}");
    let mut public_rotation = gatehouse(dir.path(), &["clients", "rotate-secret", "spa"]);
    env(&mut public_rotation);
    assert!(!run(&mut public_rotation).status.success());

    let mut remove = gatehouse(dir.path(), &["clients", "remove", "spa"]);
    env(&mut remove);
    assert!(run(&mut remove).status.success());
    let mut again = gatehouse(dir.path(), &["clients", "remove", "spa"]);
    env(&mut again);
    assert!(
        !run(&mut again).status.success(),
        "a second removal finds nothing"
    );
    let mut list = gatehouse(dir.path(), &["clients", "list"]);
    env(&mut list);
    assert!(!text(&run(&mut list).stdout).contains("spa\t"));
}

/// Serves an OpenID provider's discovery and key set on a free loopback port, for as many
/// requests as come; returns its issuer.
fn discovery_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let served = issuer.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 2048];
            let read = stream.read(&mut request).unwrap_or(0);
            let request = String::from_utf8_lossy(&request[..read]);
            let body = if request.starts_with("GET /.well-known/openid-configuration") {
                serde_json::json!({
                    "issuer": served,
                    "authorization_endpoint": format!("{served}/authorize"),
                    "token_endpoint": format!("{served}/token"),
                    "jwks_uri": format!("{served}/jwks"),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["EdDSA"]
                })
            } else {
                serde_json::json!({"keys": [{
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "k1",
                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
                }]})
            }
            .to_string();
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    issuer
}

#[test]
fn upstream_list_and_check_say_what_each_provider_needs_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = discovery_server();
    std::fs::write(dir.path().join("github-secret"), "gh-secret-value\n").unwrap();
    std::fs::write(
        dir.path().join("gatehouse.toml"),
        format!(
            r#"[server]
public_url = "https://auth.example.com/"
[upstream.corp]
kind = "oidc"
name = "Corp SSO"
issuer = "{issuer}"
client_id = "gatehouse"
client_secret = "corp-secret-value"
[upstream.github]
kind = "github"
client_id = "Iv1.test"
client_secret_file = "github-secret"
[upstream.broken]
kind = "oidc"
client_id = "x"
[upstream.away]
kind = "oidc"
issuer = "http://127.0.0.1:9"
client_id = "x"
timeout_secs = 1
"#
        ),
    )
    .unwrap();
    let with = |args: &[&str]| {
        let mut command = gatehouse(dir.path(), args);
        command
            .env("GATEHOUSE_CONFIG", "gatehouse.toml")
            .env("GATEHOUSE__UPSTREAM__GOOGLE__KIND", "google")
            .env(
                "GATEHOUSE__UPSTREAM__GOOGLE__CLIENT_ID",
                "123.apps.googleusercontent.com",
            );
        run(&mut command)
    };
    let listed = with(&["upstream", "list"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listed = text(&listed.stdout);
    for line in [
        "corp\toidc\tCorp SSO\tsign-up allowed\thttps://auth.example.com/upstream/corp/callback",
        "github\tgithub\tGitHub\tsign-up allowed\thttps://auth.example.com/upstream/github/callback",
        "google\tgoogle\tGoogle\tsign-up allowed\thttps://auth.example.com/upstream/google/callback",
    ] {
        assert!(listed.lines().any(|l| l == line), "{line:?} in {listed}");
    }

    let works = with(&["upstream", "check", "corp"]);
    assert!(works.status.success(), "{}", text(&works.stderr));
    assert!(
        text(&works.stdout).contains("1 signing key"),
        "{}",
        text(&works.stdout)
    );
    for (id, says) in [
        ("broken", "needs its `issuer`"),
        ("away", "discovery at http://127.0.0.1:9"),
        ("nobody", "no provider `nobody` is configured"),
    ] {
        let refused = with(&["upstream", "check", id]);
        assert!(!refused.status.success(), "{id}");
        let said = text(&refused.stderr);
        assert!(said.contains(says), "{id}: {said}");
    }
    // No secret is ever printed.
    let shown = with(&["config"]);
    let shown = text(&shown.stdout);
    assert!(shown.contains("[upstream.corp]"), "{shown}");
    assert!(!shown.contains("corp-secret-value"), "{shown}");
    assert!(!listed.contains("secret"), "{listed}");
}

#[test]
fn apis_add_list_and_remove_with_their_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let apis = |args: &[&str]| {
        let mut command = gatehouse(dir.path(), &[&["apis"], args].concat());
        command.env("GATEHOUSE__JWT__SECRET", SECRET);
        run(&mut command)
    };
    let added = apis(&[
        "add",
        "--identifier",
        "https://orders.example.com",
        "--name",
        "Orders",
        "--scope",
        "orders:read=Read your orders",
        "--admin-scope",
        "orders:refund=Refund any order",
    ]);
    assert!(added.status.success(), "{}", text(&added.stderr));

    // The same identifier again, gatehouse's own, or bad fields: refused, nothing stored.
    let again = apis(&[
        "add",
        "--identifier",
        "https://orders.example.com",
        "--name",
        "Again",
        "--scope",
        "x=X",
    ]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("exists already"),
        "{}",
        text(&again.stderr)
    );
    let own = apis(&[
        "add",
        "--identifier",
        "gatehouse",
        "--name",
        "Own",
        "--scope",
        "x=X",
    ]);
    assert!(!own.status.success());
    let own = apis(&[
        "add",
        "--identifier",
        "urn:gatehouse",
        "--name",
        "Own",
        "--scope",
        "x=X",
    ]);
    assert!(own.status.success(), "{}", text(&own.stderr));
    let bad = apis(&[
        "add",
        "--identifier",
        "orders",
        "--name",
        "Bad",
        "--scope",
        "bad scope=X",
    ]);
    assert!(!bad.status.success());
    let stderr = text(&bad.stderr);
    assert!(
        stderr.contains("identifier:") && stderr.contains("scopes:"),
        "{stderr}"
    );
    let unnamed = apis(&[
        "add",
        "--identifier",
        "urn:x",
        "--name",
        "X",
        "--scope",
        "no-description",
    ]);
    assert!(!unnamed.status.success());

    let listed = text(&apis(&["list"]).stdout);
    assert!(
        listed.contains("https://orders.example.com\tOrders"),
        "{listed}"
    );
    assert!(
        listed.contains("  orders:read\tadmin,user\tRead your orders"),
        "{listed}"
    );
    assert!(
        listed.contains("  orders:refund\tadmin\tRefund any order"),
        "{listed}"
    );
    assert!(!listed.contains("Bad"), "{listed}");

    assert!(
        apis(&["remove", "https://orders.example.com"])
            .status
            .success()
    );
    assert!(
        !apis(&["remove", "https://orders.example.com"])
            .status
            .success()
    );
    let listed = text(&apis(&["list"]).stdout);
    assert!(!listed.contains("orders"), "{listed}");
    assert!(listed.contains("urn:gatehouse"), "{listed}");
}

/// The body of a raw HTTP answer, as JSON.
fn json_body(response: &str) -> serde_json::Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON in {response}"))
}

fn bearer(port: u16, method: &str, path: &str, token: &str, body: Option<&str>) -> String {
    let body = body.unwrap_or("");
    http(
        port,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn tokens_list_and_revoke_reach_a_server_running_beside_them() {
    let dir = tempfile::tempdir().unwrap();
    let created = run_with_stdin(
        &mut gatehouse(dir.path(), &["create-admin", "--email", "root@example.com"]),
        "correct horse battery staple\n",
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let mut server = gatehouse(dir.path(), &["serve"])
        .env("GATEHOUSE__SERVER__PORT", "0")
        .env("GATEHOUSE__LOG__FORMAT", "json")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let port = listening_port(&mut server);
    let login = password_grant(port, "root@example.com", "correct horse battery staple");
    let access = json_body(&login)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let make = |name: &str| {
        let body = format!(
            r#"{{"name": "{name}", "scope": "me", "current_password": "correct horse battery staple"}}"#
        );
        let made = bearer(
            port,
            "POST",
            "/api/v1/users/me/tokens",
            &access,
            Some(&body),
        );
        assert!(made.starts_with("HTTP/1.1 201"), "{made}");
        json_body(&made)
    };
    let nightly = make("nightly backup");
    let other = make("other");
    let secret = |token: &serde_json::Value| token["token"].as_str().unwrap().to_owned();
    let me = |token: &str| bearer(port, "GET", "/api/v1/users/me", token, None);
    // The server keeps its answer about each token in memory.
    assert!(me(&secret(&nightly)).starts_with("HTTP/1.1 200"));
    assert!(me(&secret(&other)).starts_with("HTTP/1.1 200"));

    let listed = run(&mut gatehouse(
        dir.path(),
        &["tokens", "list", "--user", "root@example.com"],
    ));
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listing = text(&listed.stdout);
    assert!(listing.contains("nightly backup") && listing.contains("scope: me"));
    assert!(!listing.contains(&secret(&nightly)), "{listing}");
    let nobody = run(&mut gatehouse(
        dir.path(),
        &["tokens", "list", "--user", "nobody@example.com"],
    ));
    assert!(!nobody.status.success());
    assert!(text(&nobody.stderr).contains("no account has the email"));

    let id = nightly["id"].as_str().unwrap();
    let revoked = run(&mut gatehouse(
        dir.path(),
        &["tokens", "revoke", "--user", "root@example.com", id],
    ));
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    // The running server hears of it within a fraction of a second.
    let started = Instant::now();
    while me(&secret(&nightly)).starts_with("HTTP/1.1 200") {
        assert!(started.elapsed() < Duration::from_secs(2), "still accepted");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(me(&secret(&other)).starts_with("HTTP/1.1 200"));
    let again = run(&mut gatehouse(
        dir.path(),
        &["tokens", "revoke", "--user", "root@example.com", id],
    ));
    assert!(!again.status.success());

    let all = run(&mut gatehouse(
        dir.path(),
        &["tokens", "revoke", "--user", "root@example.com", "--all"],
    ));
    assert!(
        text(&all.stdout).contains("revoked 1 token"),
        "{}",
        text(&all.stdout)
    );
    let started = Instant::now();
    while me(&secret(&other)).starts_with("HTTP/1.1 200") {
        assert!(started.elapsed() < Duration::from_secs(2), "still accepted");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill().ok();
    server.wait().ok();
}
