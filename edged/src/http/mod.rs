//! The HTTP toolkit every listener of the daemon shares (the CO's north and
//! south listeners, the LO's): extractors whose failures are problem
//! details ([`JsonBody`], [`QueryParams`], [`BoundedBody`]), [`blocking`] to
//! run synchronous work (SQLite, Git, files) off the async threads,
//! [`created`], and for start-up [`listen`] and [`start_blocking`]. The
//! problems themselves are [`crate::error::ApiError`]. Every listener runs
//! the one guarded server loop of `serve` ([`serve()`], [`Limits`]).

mod serve;
pub(crate) mod trust;

pub use serve::Limits;
pub(crate) use serve::{ConnInfo, raise_file_limit, serve};

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest JSON body of the north API.
pub(crate) const MAX_JSON_BYTES: usize = 64 * 1024;

/// Run blocking work (the database, Git, files) on a blocking thread; a
/// task that panicked is an internal error.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    // The work stays inside the caller's span (its trace).
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| ApiError::internal(&anyhow::Error::new(e).context("a worker task failed")))?
}

/// Run start-up work (opening a store, repairing it) on a blocking thread.
pub(crate) async fn start_blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("the start-up task failed")?
}

/// Listen on `addr` (port 0 picks one): the listener and the address it
/// got. `role` names a second listener in errors (`south`).
pub(crate) async fn listen(
    addr: &str,
    role: Option<&str>,
) -> anyhow::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        let role = role.map(|r| format!(" ({r})")).unwrap_or_default();
        format!("cannot listen on `{addr}`{role}")
    })?;
    let local = listener.local_addr().with_context(|| {
        role.map_or_else(
            || "cannot read the listening address".to_owned(),
            |r| format!("cannot read the {r} address"),
        )
    })?;
    Ok((listener, local))
}

/// The problem for a request body that could not be read: 413 over `limit`
/// bytes, 400 otherwise.
pub(crate) fn body_rejection(r: &BytesRejection, limit: usize) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(format!("the request body is over {limit} bytes"))
    } else {
        ApiError::bad_request(format!(
            "the request body could not be read: {}",
            r.body_text()
        ))
    }
}

/// A JSON body whose errors (syntax, unknown or missing fields, wrong types)
/// become a 400 problem that names the field.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let BoundedBody(bytes) = BoundedBody::<MAX_JSON_BYTES>::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid: {e}")))
    }
}

/// A request body of at most `LIMIT` bytes (the route's body limit says the
/// same); a body over it is a 413 problem, one that cannot be read a 400.
pub(crate) struct BoundedBody<const LIMIT: usize>(pub(crate) Bytes);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for BoundedBody<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(BoundedBody)
            .map_err(|r| body_rejection(&r, LIMIT))
    }
}

/// Query parameters whose errors (unknown names, wrong types) become a 400
/// problem that names them, like [`JsonBody`].
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(q)| QueryParams(q))
            .map_err(|r| {
                ApiError::bad_request(format!("the query is not valid: {}", r.body_text()))
            })
    }
}

/// `201 Created` with a JSON body.
pub(crate) fn created<T: serde::Serialize>(body: &T) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}
