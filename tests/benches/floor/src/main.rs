//! The floor of `just bench`: bare actix-web answering `GET /health/live` with a constant,
//! on the same actix-web, the same default worker count and the same loopback as gatehouse.
//! Every figure of the benchmark is also given as a ratio to this one.
//!
//! `bench-floor PORT`

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|port| port.parse().ok())
        .unwrap_or(18_999);
    HttpServer::new(|| {
        App::new().route(
            "/health/live",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(r#"{"status":"ok"}"#)
            }),
        )
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
