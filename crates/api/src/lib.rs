//! The gatehouse HTTP service: actix-web routes, extractors, error mapping, OpenAPI,
//! configuration and the command line. The only crate that knows HTTP and JSON.

pub mod cli;
pub mod client;
pub mod dto;
pub mod extractors;
pub mod json;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use settings::Settings;
pub use startup::Application;
