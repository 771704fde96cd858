//! The north API (bearer token): one table of routes, bearer-token auth and
//! a scope check on all but health and the OpenAPI document (with the audit
//! log, in `access`), request metrics and body
//! limits; the handlers, one module per group, are thin: they read the
//! request, call an operation on a blocking thread, and write the answer.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use edge_api::routes;
use edge_api::types::ServerStatus;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod access;
mod apps;
mod deployments;
mod events;
mod export;
mod identities;
mod intake;
mod remote;
mod rollouts;
mod sites;
pub(crate) mod tls;

use crate::co::ops::apply::MAX_APPLY_BYTES;
use crate::co::ops::intake::MAX_INTAKE;
use crate::co::ops::status;
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::{MAX_JSON_BYTES, blocking};
use apps::MAX_UPLOAD_BYTES;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "edged central orchestrator (north API)", description = "App store, sites and devices. Every error is an RFC 9457 problem."),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The OpenAPI document of the north API, generated from the handlers.
pub(crate) fn openapi_json() -> String {
    let doc = build().1;
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

fn build() -> (axum::Router<Arc<Store>>, utoipa::openapi::OpenApi) {
    let (s, p, upload) = routes!(apps::upload_app);
    let (is, ip, intake) = routes!(intake::intake_from_stick);
    let (aps, app, apply) = routes!(deployments::apply);
    let (db, dp, batch) = routes!(sites::create_devices);
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(status))
        .routes(routes!(apps::list_apps, apps::add_app))
        .routes((s, p, upload.layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))))
        .routes(routes!(apps::show_app, apps::remove_app))
        .routes(routes!(deployments::list_deployments, deployments::deploy))
        .routes(routes!(deployments::update_deployments))
        .routes((
            aps,
            app,
            apply.layer(DefaultBodyLimit::max(MAX_APPLY_BYTES)),
        ))
        .routes(routes!(deployments::show_deployment, deployments::undeploy))
        .routes(routes!(deployments::history))
        .routes(routes!(deployments::rollback))
        .routes(routes!(remote::deployment_logs))
        .routes(routes!(remote::restart_deployment))
        .routes(routes!(rollouts::list_rollouts))
        .routes(routes!(rollouts::show_rollout))
        .routes(routes!(rollouts::act_on_rollout))
        .routes(routes!(events::events))
        .routes(routes!(export::export))
        .routes(routes!(export::export_git))
        .routes(routes!(export::export_blob))
        .routes((is, ip, intake.layer(DefaultBodyLimit::max(MAX_INTAKE))))
        .routes(routes!(identities::enroll))
        .routes(routes!(identities::revoke))
        .routes(routes!(identities::show_ca))
        .routes(routes!(identities::rotate_ca))
        .routes(routes!(access::list_tokens, access::create_token))
        .routes(routes!(access::revoke_token))
        .routes(routes!(access::audit))
        .routes(routes!(sites::list_sites, sites::create_site))
        .routes(routes!(sites::show_site, sites::remove_site))
        .routes(routes!(sites::label_site))
        .routes(routes!(sites::list_devices, sites::create_device))
        .routes((
            db,
            dp,
            batch.layer(DefaultBodyLimit::max(sites::MAX_DEVICES_BODY)),
        ))
        .routes(routes!(sites::show_device, sites::remove_device))
        .routes(routes!(sites::label_device))
        .split_for_parts()
}

/// The router with all middleware, bound to `store`.
pub(crate) fn router(store: Arc<Store>) -> axum::Router {
    let (router, api) = build();
    let api_json = Bytes::from(serde_json::to_vec_pretty(&api).unwrap_or_default());
    router
        .route(
            routes::OPENAPI,
            axum::routing::get(move || async move {
                ([(header::CONTENT_TYPE, "application/json")], api_json)
            }),
        )
        .route(routes::METRICS, axum::routing::get(metrics))
        .merge(crate::http::trust::router({
            let s = store.clone();
            Arc::new(move || s.published())
        }))
        .fallback(|| async {
            ApiError::not_found("no such route; the API is described at /api/openapi.json")
        })
        .layer(middleware::from_fn_with_state(store.clone(), access::guard))
        .layer(middleware::from_fn_with_state(store.clone(), observe))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .with_state(store)
}

async fn observe(State(store): State<Arc<Store>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let resp = next.run(req).await;
    store.metrics.observe(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

/// Liveness.
#[utoipa::path(get, path = "/api/health", security(()), responses((status = 200, description = "The server is up")))]
async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Server version, counts and health.
#[utoipa::path(get, path = "/api/status", responses((status = 200, body = ServerStatus), (status = 401, description = "No or wrong token")))]
async fn status(State(store): State<Arc<Store>>) -> Result<axum::Json<ServerStatus>, ApiError> {
    blocking(move || Ok(status::server_status(&store)))
        .await
        .map(axum::Json)
}

async fn metrics(State(store): State<Arc<Store>>) -> Result<Response, ApiError> {
    let text = blocking(move || Ok(status::metrics_text(&store))).await?;
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(resp)
}
