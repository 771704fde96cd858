//! North handlers of tokens (`/api/tokens`) and the audit log
//! (`/api/audit`), and the middleware that authenticates every request,
//! checks its scope and writes the audit log; the work is in `ops::access`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{ConnectInfo, MatchedPath, Path, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use edge_api::routes;
use edge_api::types::{AuditEntry, CreateToken, CreatedToken, TokenInfo};
use serde::Deserialize;

use crate::co::db::access::AuditRow;
use crate::co::ops::access::{self, Caller};
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::{JsonBody, QueryParams, blocking, created};

/// Authenticate, authorize by scope, run, and audit. Health, the OpenAPI
/// document and the Trust Bundle API are open; everything else needs a token whose scope covers the
/// route.
pub(crate) async fn guard(
    State(store): State<Arc<Store>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let open = [
        routes::HEALTH,
        routes::OPENAPI,
        edge_api::trust::DISCOVERY_PATH,
        edge_api::trust::BUNDLE_PATH,
    ];
    if open.contains(&path.as_str()) {
        return next.run(req).await;
    }
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| path.clone(), |m| m.as_str().to_owned());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "-".to_owned(), |c| c.0.to_string());
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    let caller = {
        let store = store.clone();
        blocking(move || Ok(access::authenticate(&store, &given)))
            .await
            .ok()
            .flatten()
    };
    let needed = access::required_scope(&method, &route);
    let (actor, resp) = match caller {
        None => ("-".to_owned(), ApiError::unauthorized().into_response()),
        Some(c) if c.scope < needed => (
            c.actor.clone(),
            ApiError::forbidden(format!(
                "the token `{}` has scope `{}`; {method} {route} needs `{}`",
                c.actor,
                c.scope.as_str(),
                needed.as_str()
            ))
            .into_response(),
        ),
        Some(c) => {
            let actor = c.actor.clone();
            req.extensions_mut().insert(c);
            (actor, next.run(req).await)
        }
    };
    let status = resp.status().as_u16();
    if access::audited(&method, status) {
        let row = AuditRow {
            seq: 0,
            at: crate::clock::now(),
            actor,
            method,
            path,
            status,
            peer,
        };
        let store = store.clone();
        let _ = blocking(move || {
            access::record(&store, row);
            Ok(())
        })
        .await;
    }
    resp
}

/// Make a named token with a scope; the secret is in this answer only.
#[utoipa::path(post, path = "/api/tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 409, description = "The name is taken"),
              (status = 403, description = "Needs the admin scope")))]
pub(crate) async fn create_token(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<CreateToken>,
) -> Result<Response, ApiError> {
    let made = blocking(move || access::create(&store, &req, &caller)).await?;
    Ok(created(&made))
}

/// The named tokens, without their secrets.
#[utoipa::path(get, path = "/api/tokens",
    responses((status = 200, body = Vec<TokenInfo>), (status = 403, description = "Needs the admin scope")))]
pub(crate) async fn list_tokens(
    State(store): State<Arc<Store>>,
) -> Result<axum::Json<Vec<TokenInfo>>, ApiError> {
    blocking(move || access::list(&store)).await.map(axum::Json)
}

/// Revoke a named token; its next request is refused.
#[utoipa::path(delete, path = "/api/tokens/{name}", params(("name" = String, Path, description = "The token's name")),
    responses((status = 200, body = TokenInfo), (status = 404, description = "No such token")))]
pub(crate) async fn revoke_token(
    State(store): State<Arc<Store>>,
    Path(name): Path<String>,
) -> Result<axum::Json<TokenInfo>, ApiError> {
    blocking(move || access::revoke(&store, &name))
        .await
        .map(axum::Json)
}

/// Query of `GET /api/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Only entries after this position.
    after: Option<u64>,
    /// At most this many (the newest), 1 to 1000 [default: 100].
    limit: Option<u32>,
}

/// The audit log: every change asked of the north API and every refused
/// request, oldest first.
#[utoipa::path(get, path = "/api/audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, description = "Needs the admin scope")))]
pub(crate) async fn audit(
    State(store): State<Arc<Store>>,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<axum::Json<Vec<AuditEntry>>, ApiError> {
    blocking(move || access::audit(&store, q.after.unwrap_or(0), q.limit.unwrap_or(100)))
        .await
        .map(axum::Json)
}
