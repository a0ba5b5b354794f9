//! Online backups of SQLite (`gatehouse backup`): a copy taken while accounts are being
//! created holds every account committed before it began, and gatehouse runs on it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use gatehouse_persistence::backup::BackupError;
use gatehouse_persistence::database::Database;
use gatehouse_tests::TestApp;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn a_backup_taken_under_writes_restores_every_account_committed_before_it() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        eprintln!("skipped on PostgreSQL: it is backed up with pg_dump, not by gatehouse");
        return;
    }
    let app = TestApp::builder()
        .settings(|s| s.auth.registrations_per_ip = 1_000_000)
        .spawn()
        .await;
    app.admin_token("root@example.com").await;
    let database = Database::connect(&app.database_url).await.unwrap();

    // Accounts are created without pause by four writers, the backup taken in the middle.
    let confirmed = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let writers = join_all((0..4).map(|writer| {
        let (app, confirmed, stop) = (&app, &confirmed, &stop);
        async move {
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let email = format!("w{writer}-{i}@example.com");
                let response = app.register(&email, gatehouse_tests::PASSWORD).await;
                if response.status() == StatusCode::CREATED {
                    confirmed.lock().unwrap().push(email);
                }
            }
        }
    }));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("gatehouse.db");
    let backup = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before: Vec<String> = confirmed.lock().unwrap().clone();
        database.backup_to(&copy).await.unwrap();
        // The writers go on a little after the copy, then stop.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.store(true, Ordering::Relaxed);
        before
    };
    let (_, before) = tokio::join!(writers, backup);
    let after = confirmed.lock().unwrap().len();
    assert!(
        before.len() >= 4,
        "accounts were being created: {}",
        before.len()
    );
    assert!(
        after > before.len(),
        "and went on being created after it began"
    );
    // The copy is never written over.
    assert!(matches!(
        database.backup_to(&copy).await,
        Err(BackupError::Exists(_))
    ));

    // gatehouse on the copy: every account confirmed before the backup began is there.
    let url = format!("sqlite://{}", copy.display());
    let restored = TestApp::builder()
        .settings(move |s| s.database.url = url.into())
        .spawn()
        .await;
    let admin = restored.login("root@example.com").await;
    let mut emails = Vec::new();
    for page in 0.. {
        let listed: Value = restored
            .bearer_get(
                &format!("/api/v1/users?limit=100&offset={}", page * 100),
                &admin,
            )
            .await
            .json()
            .await
            .unwrap();
        let items = listed["items"].as_array().unwrap().clone();
        emails.extend(
            items
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned()),
        );
        if items.len() < 100 {
            break;
        }
    }
    let missing: Vec<_> = before.iter().filter(|e| !emails.contains(e)).collect();
    assert!(missing.is_empty(), "lost in the backup: {missing:?}");
    // The search index came along, row for row (it names accounts by their rowids).
    for email in before.iter().step_by(before.len() / 4) {
        let q = email.trim_end_matches("example.com");
        let found: Value = restored
            .bearer_get(&format!("/api/v1/users?q={q}"), &admin)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(found["items"].as_array().unwrap().len(), 1, "{q}");
        assert_eq!(found["items"][0]["email"], email.as_str(), "{q}");
    }
    // And it serves: one of them signs in.
    let one = restored.login(&before[0]).await;
    assert_eq!(
        restored.bearer_get("/api/v1/users/me", &one).await.status(),
        StatusCode::OK
    );
}
