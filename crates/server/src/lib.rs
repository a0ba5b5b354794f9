//! The gatehouse server: configuration (`settings`), the command line (`cli`), start-up
//! (`startup`: the routes of `gatehouse-api` and `gatehouse-pages` on one actix-web server),
//! the wiring of use cases to their adapters (`state`), TLS, CORS, logging (`telemetry`,
//! `request_log`) and housekeeping.

pub mod apis_cli;
pub mod cli;
pub mod cors;
pub mod courier;
pub mod error;
pub mod housekeeping;
pub mod mail_cli;
pub mod metrics;
pub mod request_log;
pub mod settings;
pub mod signing_secret;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod tokens_cli;
pub mod upstream;

pub use settings::Settings;
pub use startup::Application;
