//! The REST contract shared by `edgectl` (client) and `edged` (server).
//!
//! This crate will hold route paths, request and response bodies that are not
//! plain Margo model types, and a typed async client that decodes every error
//! into a Margo `ProblemDetail`. It depends only on `edge-model`. It must never
//! link the HTTP server (axum lives in `edged`), so that `edgectl` stays small.
