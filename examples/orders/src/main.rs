//! An orders API behind gatehouse, in a few lines: every request's bearer token is checked
//! by `gatehouse-verifier` (signature by gatehouse's published keys, issuer, audience,
//! expiry, `typ`), and each handler states the scope it needs in its signature.
//!
//! ```text
//! GATEHOUSE_ISSUER=https://id.example.com ORDERS_AUDIENCE=https://orders.example.com \
//!   cargo run -p orders-example
//! ```
//!
//! Environment:
//! - `GATEHOUSE_ISSUER`: gatehouse's `server.public_url` (discovery is read from there);
//! - `ORDERS_AUDIENCE`: this API's identifier, as registered with `gatehouse apis add`;
//! - `ORDERS_ADDRESS`: where to listen (default `127.0.0.1:8081`);
//! - `ORDERS_INTROSPECTION_CLIENT_ID` and `ORDERS_INTROSPECTION_CLIENT_SECRET` (optional):
//!   a client gatehouse lets introspect (`--resource-server`); with them, a token whose
//!   session ended is refused within 5 seconds rather than at its expiry.
//!
//! Routes: `GET /orders` (`orders:read`): the caller's orders; `POST /orders`
//! (`orders:write`): place one; `GET /catalog`: what can be ordered, for anyone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_verifier::{Authenticated, Introspection, Verifier, scope};
use serde::{Deserialize, Serialize};

scope!(
    /// Reading orders.
    pub OrdersRead = "orders:read"
);
scope!(
    /// Placing orders.
    pub OrdersWrite = "orders:write"
);

#[derive(Clone)]
struct AppState {
    verifier: Verifier,
    /// Orders by the `sub` that placed them: a person's id, or a client's.
    orders: Arc<Mutex<HashMap<String, Vec<Order>>>>,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Verifier {
        state.verifier.clone()
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct Order {
    item: String,
    quantity: u32,
}

#[derive(Serialize)]
struct Orders {
    /// Who asked: the token's subject, and the client it was issued to.
    subject: String,
    client_id: Option<String>,
    orders: Vec<Order>,
}

async fn list(caller: Authenticated<OrdersRead>, State(state): State<AppState>) -> Json<Orders> {
    let orders = state.orders.lock().expect("orders");
    Json(Orders {
        subject: caller.sub.clone(),
        client_id: caller.client_id.clone(),
        orders: orders.get(&caller.sub).cloned().unwrap_or_default(),
    })
}

async fn place(
    caller: Authenticated<OrdersWrite>,
    State(state): State<AppState>,
    Json(order): Json<Order>,
) -> (StatusCode, Json<Order>) {
    let mut orders = state.orders.lock().expect("orders");
    orders
        .entry(caller.sub.clone())
        .or_default()
        .push(order.clone());
    (StatusCode::CREATED, Json(order))
}

async fn catalog() -> Json<Vec<Order>> {
    Json(vec![
        Order {
            item: "teapot".into(),
            quantity: 1,
        },
        Order {
            item: "cups".into(),
            quantity: 6,
        },
    ])
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut verifier = Verifier::builder(env("GATEHOUSE_ISSUER")?, env("ORDERS_AUDIENCE")?);
    if let (Ok(id), Ok(secret)) = (
        env("ORDERS_INTROSPECTION_CLIENT_ID"),
        env("ORDERS_INTROSPECTION_CLIENT_SECRET"),
    ) {
        verifier = verifier.introspection(Introspection::new(id, secret));
    }
    let state = AppState {
        verifier: verifier.build().map_err(|e| e.to_string())?,
        orders: Arc::default(),
    };
    let app = Router::new()
        .route("/orders", get(list).post(place))
        .route("/catalog", get(catalog))
        .with_state(state);
    let address = env("ORDERS_ADDRESS").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    println!(
        "orders example listening on {}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
