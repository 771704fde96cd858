//! The CO's south listener: mutual TLS 1.3 with identities from the CO's CA
//! (the server presents `…/margo/wfm/co`). For a site's Local Orchestrator it
//! serves the site's desired-state repository read-only over Git smart HTTP
//! (`/git/<site>.git/…`, through `git http-backend`; pushes refused), the
//! nudge (`/lo/v1/watch`), status intake (`/lo/v1/intake`) and remote
//! operations on its nodes (`/lo/v1/ops`); for edge nodes
//! attached directly, the Margo API (`/api/v1/…`). The caller is recognized by
//! its certificate's fingerprint on every request, so a revocation takes
//! effect at once.

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::{DefaultBodyLimit, Extension};
use edge_api::routes;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject as _;

mod git;
mod lo;
mod ops;

use crate::co::ops::direct::CoBackend;
use crate::co::ops::intake::MAX_INTAKE;
use crate::co::store::Store;
use crate::south::Caller;
use crate::south::backend::Backend;

/// TLS settings: TLS 1.3 only, client certificates required and verified
/// against the CO's CA; the server presents `…/margo/wfm/co`.
pub(crate) fn tls_config(
    store: &Store,
    names: &[String],
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let ca = CertificateDer::from_pem_slice(store.ca().active_pem().as_bytes())
        .context("the CA certificate does not read")?;
    let spiffe = format!("spiffe://{}/margo/wfm/co", store.trust_domain());
    let issued = store.ca().issue(&spiffe, 365, names, true)?;
    let cert = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes())
        .context("the server certificate does not read")?;
    let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())
        .context("the server key does not read")?;
    crate::south::server_config(store.south_roots(), vec![cert, ca], key)
}

/// Accept mTLS connections until a stop is asked for, then drain.
pub(crate) async fn serve(
    store: Arc<Store>,
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
) {
    let backend: Arc<dyn Backend> = Arc::new(CoBackend {
        store: store.clone(),
    });
    crate::south::serve(listener, config, move |caller: Caller| {
        let lo = axum::Router::new()
            .route(routes::GIT, axum::routing::any(git::git))
            .route(routes::LO_WATCH, axum::routing::get(lo::watch))
            .layer(DefaultBodyLimit::max(git::MAX_GIT_REQUEST))
            .route(
                routes::LO_INTAKE,
                axum::routing::post(lo::intake).layer(DefaultBodyLimit::max(MAX_INTAKE)),
            )
            .route(routes::LO_OPS, axum::routing::get(ops::ops))
            .route(
                routes::LO_OP,
                axum::routing::post(ops::answer)
                    .layer(DefaultBodyLimit::max(edge_api::remote::MAX_RESULT)),
            )
            .layer(Extension(caller.clone()))
            .with_state(store.clone());
        lo.merge(crate::south::margo::router(backend.clone(), caller))
            .merge(crate::http::trust::router({
                let s = store.clone();
                Arc::new(move || s.published())
            }))
    })
    .await;
}
