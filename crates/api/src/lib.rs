//! The JSON API of gatehouse: its routes (`routes`, one module per feature), their bodies
//! (`dto`) and the OpenAPI document (`openapi`). Shared HTTP plumbing is `gatehouse-http`;
//! the server (`gatehouse-server`) mounts these routes beside the hosted pages.

pub mod dto;
pub mod openapi;
pub mod routes;
