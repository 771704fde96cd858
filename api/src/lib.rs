//! The north REST contract shared by `edgectl` (client) and `edged` (server).
//!
//! `routes` names every path once, `types` holds the request and response
//! bodies that are not plain Margo documents, and `client` is a small blocking
//! client that turns every error body (a Margo `ProblemDetail`) back into one
//! readable sentence. This crate depends only on `edge-model`; it never links
//! the HTTP server (axum lives in `edged`), so `edgectl` stays small.
//!
//! Endpoints (all JSON, bearer token except health and the OpenAPI document):
//! `GET /api/health`, `GET /api/openapi.json`, `GET /api/status`, `GET /metrics`,
//! `GET|POST /api/apps`, `POST /api/apps/upload`, `GET|DELETE /api/apps/{app}`,
//! `GET|POST /api/sites`, `GET /api/sites/{site}`, `PUT /api/sites/{site}/labels`,
//! `GET|POST /api/devices`, `GET /api/devices/{device}`,
//! `PUT /api/devices/{device}/labels`, `GET /api/events` (Server-Sent
//! Events, read by `events`), `GET /api/sites/{site}/export[/git|/blobs/…]`
//! and `POST /api/sites/{site}/intake` (site sticks).
//!
//! The south side (mutual TLS) is here too: `device` polls the Margo state
//! manifest, and `south` is every other call of an edge node to its fleet
//! manager and of an LO to its CO, each failure a typed
//! [`south::CallError`] carrying the server's [`retry::Advice`] (when to try
//! again, and how).

pub mod client;
pub mod device;
pub mod events;
pub mod mtls;
pub mod node;
pub mod remote;
pub mod retry;
pub mod routes;
pub mod south;
pub mod trust;
pub mod types;

pub use client::{Client, ClientError};
