//! Registered APIs (resource servers) in storage, on SQLite and PostgreSQL: an API is stored
//! with its scopes, one identifier is registered once however many registrations race, and
//! removal takes its scopes with it.

use std::sync::Arc;

use futures::future::join_all;
use gatehouse_domain::apis::{ApiService, NewApi, NewScope, RegisterApiError};
use gatehouse_domain::clock::SystemClock;
use gatehouse_domain::user::Role;
use gatehouse_persistence::apis::SeaApiRepository;
use gatehouse_persistence::database::Database;
use gatehouse_tests::TestApp;

fn orders(scopes: &[(&str, &[&str])]) -> NewApi {
    NewApi {
        identifier: "https://orders.example.com".into(),
        name: "Orders".into(),
        scopes: scopes
            .iter()
            .map(|(name, roles)| NewScope {
                name: (*name).into(),
                description: format!("{name}, in words"),
                roles: roles.iter().map(|role| (*role).to_owned()).collect(),
            })
            .collect(),
    }
}

#[tokio::test]
async fn an_api_is_registered_once_with_its_scopes_and_removed_with_them() {
    let app = TestApp::builder().spawn().await;
    let database = Database::connect(&app.database_url).await.unwrap();
    let apis = ApiService::new(
        Arc::new(SeaApiRepository::new(&database)),
        Arc::new(SystemClock),
        app.settings.jwt.audience.clone(),
    );

    // Eight registrations of one identifier at once: one is stored, the others refused.
    let raced = join_all((0..8).map(|_| {
        apis.register(orders(&[
            ("orders:read", &[]),
            ("orders:refund", &["admin"]),
        ]))
    }))
    .await;
    let stored = raced.iter().filter(|result| result.is_ok()).count();
    assert_eq!(stored, 1, "{raced:?}");
    assert!(
        raced
            .iter()
            .all(|result| matches!(result, Ok(_) | Err(RegisterApiError::Taken))),
        "{raced:?}"
    );

    let listed = apis.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    let api = apis
        .find("https://orders.example.com")
        .await
        .unwrap()
        .expect("found by its identifier");
    assert_eq!(api, listed[0]);
    assert_eq!(api.name.as_str(), "Orders");
    let scopes: Vec<_> = api
        .scopes
        .iter()
        .map(|scope| (scope.name.as_str(), scope.roles.clone()))
        .collect();
    assert_eq!(
        scopes,
        [
            ("orders:read", vec![Role::Admin, Role::User]),
            ("orders:refund", vec![Role::Admin])
        ]
    );
    // gatehouse's own identifier is taken by gatehouse.
    let mut own = orders(&[("x", &[])]);
    own.identifier = app.settings.jwt.audience.clone();
    assert!(matches!(
        apis.register(own).await,
        Err(RegisterApiError::Taken | RegisterApiError::Invalid(_))
    ));

    // Removed, its scopes go too: registered again, it has only its new ones.
    assert!(apis.remove("https://orders.example.com").await.unwrap());
    assert!(!apis.remove("https://orders.example.com").await.unwrap());
    assert!(
        apis.find("https://orders.example.com")
            .await
            .unwrap()
            .is_none()
    );
    let again = apis
        .register(orders(&[("orders:write", &[])]))
        .await
        .unwrap();
    let found = apis
        .find("https://orders.example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, again.id);
    assert_eq!(found.scopes.len(), 1);
    assert_eq!(found.scopes[0].name.as_str(), "orders:write");
}
