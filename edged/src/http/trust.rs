//! The Margo Trust Bundle API (rc.3) as every fleet manager serves it: the
//! discovery document at `/.well-known/margo` and the trust domain's SPIFFE
//! bundle at `/.well-known/spiffe/bundle.json`, with no application-layer
//! authentication (the API has none: a client authenticates the connection
//! by PKI or a pin, see the node's `en/trust.rs`), strong ETags and `304`s.
//! The CO serves them on its north listener (plain server TLS, for a device
//! bootstrapping its trust) and on its south listener; an LO on its own.
//! The bundle's bytes are made once per anchor set (`Published`).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use edge_api::trust;
use rustls::pki_types::CertificateDer;

use crate::error::ApiError;

/// What a fleet manager publishes: its trust domain and bundle.
#[derive(Debug)]
pub(crate) struct Published {
    trust_domain: String,
    bundle: Vec<u8>,
    etag: String,
}

impl Published {
    /// The bundle of `anchors` for `trust_domain`, at `sequence`.
    pub(crate) fn new(
        trust_domain: &str,
        anchors: &[CertificateDer<'_>],
        sequence: u64,
        refresh_hint: u64,
    ) -> anyhow::Result<Self> {
        let bundle = trust::bundle_json(anchors, sequence, refresh_hint)?;
        Ok(Self::from_bundle(trust_domain, bundle))
    }

    /// A bundle as fetched from the CO (an LO serves its very bytes).
    pub(crate) fn from_bundle(trust_domain: &str, bundle: Vec<u8>) -> Self {
        Self {
            trust_domain: trust_domain.to_owned(),
            etag: edge_model::digest::etag(&edge_model::digest::sha256(&bundle)),
            bundle,
        }
    }
}

/// Where the documents of the moment come from (they change with a CA
/// rotation).
pub(crate) type Source = Arc<dyn Fn() -> Arc<Published> + Send + Sync>;

/// The two routes, open to any caller of the listener they are merged into.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(source: Source) -> axum::Router<S> {
    let s = source.clone();
    axum::Router::new()
        .route(
            trust::DISCOVERY_PATH,
            axum::routing::get(move |headers: HeaderMap| async move { discovery(&s(), &headers) }),
        )
        .route(
            trust::BUNDLE_PATH,
            axum::routing::get(move |headers: HeaderMap| async move {
                let p = source();
                answer(&headers, p.bundle.clone(), &p.etag)
            }),
        )
}

/// The discovery document, naming the bundle on the origin the client
/// asked (its `Host`), which must look like a host name or address.
fn discovery(p: &Published, headers: &HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    let Some(host) = host else {
        return ApiError::bad_request(
            "the request names no usable Host, so the bundle's address cannot be given",
        )
        .into_response();
    };
    let uri = format!("https://{host}{}", trust::BUNDLE_PATH);
    let body = trust::discovery_json(&p.trust_domain, &uri);
    let etag = edge_model::digest::etag(&edge_model::digest::sha256(&body));
    answer(headers, body, &etag)
}

fn answer(headers: &HeaderMap, body: Vec<u8>, etag: &str) -> Response {
    let tag = HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\""));
    if crate::south::margo::none_match(headers, etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::ETAG, tag),
        ],
        body,
    )
        .into_response()
}
