//! Black-box tests of the HTTP API: each starts the real app on port 0 with a fresh database.

mod admin;
mod attacks;
mod audit;
mod errors;
mod fuzz;
mod hardening;
mod health;
mod keys;
mod methods;
mod mfa;
mod oidc;
mod openapi;
mod owned;
mod pages;
mod passkeys;
mod provider;
mod races;
mod recovery;
mod register;
mod self_service;
mod sessions;
mod throttling;
mod todos;
mod token;
mod upstream;
mod users_me;
