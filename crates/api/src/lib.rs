//! The gatehouse HTTP service: actix-web routes, extractors, error mapping, OpenAPI,
//! configuration and the command line. The only crate that knows HTTP and JSON.

pub mod cli;
pub mod client;
pub mod cors;
pub mod dto;
pub mod extractors;
pub mod housekeeping;
pub mod json;
pub mod methods;
pub mod openapi;
pub mod pages;
pub mod problem;
pub mod request_log;
pub mod routes;
pub mod settings;
pub mod signing_secret;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tls;

pub use settings::Settings;
pub use startup::Application;
