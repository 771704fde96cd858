//! The Margo Workload Management API, rc.3 (DIGEST §8.3), as the LO and the
//! CO serve it to edge nodes over mutual TLS:
//!
//! - `GET /api/v1/deployments`: the caller's state manifest; canonical JSON,
//!   strong ETag = its digest, 304 on `If-None-Match`, 406 when `Accept`
//!   admits no manifest, `Cache-Control: private`.
//! - `GET /api/v1/deployments/{id}/{digest}` and `GET /api/v1/bundles/{digest}`:
//!   exact bytes by digest, ETag = quoted digest, immutable.
//! - `PUT|DELETE /api/v1/capabilities/{deviceId}`, `POST
//!   /api/v1/deployments/{id}/status`: validated, then handed to the owner.
//!
//! The caller is the device its certificate names; nothing in the path or
//! body can make it anyone else. A see-thru gateway's one client acts for
//! its children too (DIGEST §1, §7.3): it is served their deployments, and
//! it reports their capabilities (`PUT /api/v1/capabilities/gw-1/cam-2`,
//! only after its own: 404 `gateway-not-found` before) and their status
//! (`deviceId: gw-1/cam-2`); any other device's child is 403
//! `not-authorized`. Every error is a problem detail with the Margo type
//! the spec registers for it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Extension, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use edge_api::routes;
use edge_model::capabilities::DeviceCapabilitiesManifest;
use edge_model::document::DocumentError;
use edge_model::status::DeploymentStatusManifest;
use edge_model::{DeploymentId, DeviceId, MargoDocument};

use super::Caller;
use super::backend::Shared;
use super::metrics;
use super::view::{BUNDLE_TYPE, DeviceView, MANIFEST_TYPE, speaks_for};
use crate::error::ApiError;
use crate::http::{BoundedBody, blocking};

/// Largest capabilities or status document accepted (the model's limit).
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// `Cache-Control` of content-addressed bodies.
const IMMUTABLE: &str = "private, max-age=31536000, immutable";

/// The API's routes for one connection's caller.
pub(crate) fn router(backend: Shared, caller: Caller) -> axum::Router {
    axum::Router::new()
        .route(routes::MARGO_MANIFEST, get(manifest))
        .route(routes::MARGO_DEPLOYMENT, get(deployment))
        .route(routes::MARGO_STATUS, post(status))
        .route(routes::MARGO_BUNDLE, get(bundle))
        .route(routes::OCI_BASE, get(super::registry::base))
        .route(routes::OCI, any(super::registry::dispatch))
        .route(
            routes::MARGO_CAPABILITIES_ANY,
            put(put_capabilities).delete(delete_capabilities),
        )
        .fallback(|| async { ApiError::not_found("no such route on the Margo API") })
        .method_not_allowed_fallback(|| async {
            ApiError::method_not_allowed("this route does not take that method")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(Extension(caller))
        .with_state(backend)
}

/// The caller's device (403 otherwise), without building its view.
async fn device(backend: &Shared, caller: &Caller) -> Result<String, ApiError> {
    let (b, c) = (backend.clone(), caller.clone());
    blocking(move || b.device(&c)).await
}

pub(super) async fn who(
    backend: &Shared,
    caller: &Caller,
) -> Result<(String, Arc<DeviceView>), ApiError> {
    let (b, c) = (backend.clone(), caller.clone());
    blocking(move || {
        let device = b.device(&c)?;
        let view = b.view(&device)?;
        Ok((device, view))
    })
    .await
}

/// Whether `Accept` admits the manifest type (absent admits everything).
fn accepts_manifest(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return true;
    };
    let Ok(accept) = accept.to_str() else {
        return false;
    };
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !refused && matches!(media.as_str(), MANIFEST_TYPE | "application/*" | "*/*")
    })
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks).
pub(crate) fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

fn with_headers(
    status: StatusCode,
    body: Body,
    headers: &[(header::HeaderName, &str)],
) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(name.clone(), v);
        }
    }
    resp
}

async fn manifest(
    State(backend): State<Shared>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !accepts_manifest(&headers) {
        // Who is asking is checked first: strangers learn nothing.
        who(&backend, &caller).await?;
        return Err(ApiError::not_acceptable(format!(
            "the state manifest is only available as `{MANIFEST_TYPE}`"
        )));
    }
    // `Prefer: wait=N` (RFC 7240) with a matching `If-None-Match`: hold the
    // answer until the manifest changes or N seconds pass (or the server
    // stops: then it is answered at once). Plain Margo clients never send
    // it and are answered at once.
    let wait = prefer_wait(&headers);
    // Subscribed to changes before the view is read: a rebuild finishing in
    // between then wakes the wait below instead of being missed (which held
    // a node on a stale manifest for a whole long poll).
    let (b, c) = (backend.clone(), caller.clone());
    let (device, mut view, rx) = blocking(move || {
        let device = b.device(&c)?;
        let rx = if wait.is_some() {
            b.changes(&device)
        } else {
            None
        };
        let view = b.view(&device)?;
        Ok((device, view, rx))
    })
    .await?;
    if let Some((wait, mut rx)) = wait.zip(rx).filter(|_| none_match(&headers, &view.etag)) {
        let deadline = tokio::time::Instant::now() + wait;
        let _held = metrics::HELD.enter();
        tracing::debug!(device = %device, wait = wait.as_secs(), "manifest long poll waiting");
        while none_match(&headers, &view.etag) {
            let woke = tokio::select! {
                changed = tokio::time::timeout_at(deadline, rx.changed()) => changed.is_ok(),
                () = crate::stop::requested() => false,
            };
            if !woke {
                break;
            }
            // Who is asking is checked again: a revocation (which wakes
            // this) ends a held poll with its refusal, not a 304.
            let (b, c, d) = (backend.clone(), caller.clone(), device.clone());
            view = blocking(move || {
                b.device(&c)?;
                b.view(&d)
            })
            .await?;
        }
    }
    let applied = wait.map(|w| format!("wait={}", w.as_secs()));
    let mut common = vec![
        (header::ETAG, view.etag.as_str()),
        (header::CACHE_CONTROL, "private"),
    ];
    if let Some(a) = &applied {
        common.push((header::HeaderName::from_static("preference-applied"), a));
    }
    if none_match(&headers, &view.etag) {
        metrics::NOT_MODIFIED.add(1);
        return Ok(with_headers(
            StatusCode::NOT_MODIFIED,
            Body::empty(),
            &common,
        ));
    }
    common.push((header::CONTENT_TYPE, MANIFEST_TYPE));
    // A new manifest carries the context of the change that made it.
    let traced = crate::trace::SERVED
        .get(&device, &view.etag)
        .and_then(|tp| crate::trace::served_span(&device, tp));
    if let Some(t) = &traced {
        common.push((header::HeaderName::from_static(crate::trace::HEADER), t));
    }
    metrics::MANIFESTS.add(1);
    Ok(with_headers(
        StatusCode::OK,
        Body::from(view.manifest.clone()),
        &common,
    ))
}

/// Longest long poll a client may ask for.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// `wait=N` of a `Prefer` header, capped at [`MAX_WAIT`].
fn prefer_wait(headers: &HeaderMap) -> Option<std::time::Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            (k.trim().eq_ignore_ascii_case("wait"))
                .then(|| v.trim().parse::<u64>().ok())
                .flatten()
        })
        .map(|s| std::time::Duration::from_secs(s).min(MAX_WAIT))
}

/// 403 when the deployment belongs to another device, else 404.
async fn not_yours(backend: &Shared, device: &str, id: &str, what: &str) -> ApiError {
    let (b, d, i) = (backend.clone(), device.to_owned(), id.to_owned());
    match blocking(move || b.owner(&d, &i)).await {
        Ok(Some(owner)) if !speaks_for(device, &owner) => {
            ApiError::not_authorized(format!("deployment `{id}` is not one of yours"))
        }
        Err(e) => e,
        _ => ApiError::margo_not_found("deployment-not-found", what.to_owned()),
    }
}

async fn deployment(
    State(backend): State<Shared>,
    Extension(caller): Extension<Caller>,
    UrlPath((id, digest)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (device, view) = who(&backend, &caller).await?;
    let Some(doc) = view.doc(&id, &digest) else {
        let what = format!("no deployment `{id}` with digest `{digest}` is in your manifest");
        return Err(not_yours(&backend, &device, &id, &what).await);
    };
    let etag = edge_model::digest::etag(&doc.digest);
    let list = [
        (header::ETAG, etag.as_str()),
        (header::CACHE_CONTROL, IMMUTABLE),
        (header::CONTENT_TYPE, "application/yaml"),
    ];
    if none_match(&headers, &etag) {
        return Ok(with_headers(StatusCode::NOT_MODIFIED, Body::empty(), &list));
    }
    Ok(with_headers(
        StatusCode::OK,
        Body::from(doc.bytes.clone()),
        &list,
    ))
}

async fn bundle(
    State(backend): State<Shared>,
    Extension(caller): Extension<Caller>,
    UrlPath(digest): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, view) = who(&backend, &caller).await?;
    let Some((d, bytes)) = view.bundle(&digest) else {
        return Err(ApiError::margo_not_found(
            "invalid-bundle",
            format!("no bundle `{digest}` is in your manifest"),
        ));
    };
    let etag = edge_model::digest::etag(d);
    let list = [
        (header::ETAG, etag.as_str()),
        (header::CACHE_CONTROL, IMMUTABLE),
        (header::CONTENT_TYPE, BUNDLE_TYPE),
    ];
    if none_match(&headers, &etag) {
        return Ok(with_headers(StatusCode::NOT_MODIFIED, Body::empty(), &list));
    }
    Ok(with_headers(
        StatusCode::OK,
        Body::from(bytes.clone()),
        &list,
    ))
}

/// Read a Margo document from a request body: 400 when it is not one at all,
/// 422 listing every rule it breaks.
fn document<T: MargoDocument>(body: &[u8], what: &str) -> Result<T, ApiError> {
    match T::from_slice(body) {
        Ok(c) => Ok(c.document),
        Err(DocumentError::Load(e)) => Err(ApiError::bad_request(format!(
            "the body is not a readable {what}: {e}"
        ))),
        Err(DocumentError::Invalid(report)) => Err(ApiError::invalid(
            format!("the {what} breaks {} rule(s)", report.errors.len()),
            &report.errors,
            "body",
        )),
    }
}

fn created_or_ok(created: bool) -> Response {
    if created {
        StatusCode::CREATED.into_response()
    } else {
        StatusCode::OK.into_response()
    }
}

/// The device `target` a capabilities request of `device` is about: itself,
/// or a child behind it whose gateway has reported (404
/// `gateway-not-found` otherwise); any other is 403.
async fn capabilities_target(backend: &Shared, device: &str, target: &str) -> Result<(), ApiError> {
    if !DeviceId::is_valid(target) {
        return Err(ApiError::bad_request(format!(
            "`{target}` is not a device id"
        )));
    }
    if target == device {
        return Ok(());
    }
    if !speaks_for(device, target) {
        return Err(ApiError::not_authorized(format!(
            "you are device `{device}` and may report only for it and the devices behind it, not for `{target}`"
        )));
    }
    let gateway = target
        .rsplit_once('/')
        .map_or(device, |(g, _)| g)
        .to_owned();
    let b = backend.clone();
    let g = gateway.clone();
    if !blocking(move || b.reported(&g)).await? {
        return Err(ApiError::margo_not_found(
            "gateway-not-found",
            format!(
                "gateway `{gateway}` has reported no capabilities: a gateway reports itself before the devices behind it"
            ),
        ));
    }
    Ok(())
}

async fn put_capabilities(
    State(backend): State<Shared>,
    Extension(caller): Extension<Caller>,
    UrlPath(target): UrlPath<String>,
    BoundedBody(body): BoundedBody<MAX_BODY>,
) -> Result<Response, ApiError> {
    let device = device(&backend, &caller).await?;
    capabilities_target(&backend, &device, &target).await?;
    let doc: DeviceCapabilitiesManifest = document(&body, "capabilities manifest")?;
    if doc.properties.id.as_str() != target {
        return Err(ApiError::unprocessable(format!(
            "`properties.id` is `{}` but the report is for `{target}`",
            doc.properties.id
        )));
    }
    let created = blocking(move || backend.capabilities(&target, &doc)).await?;
    Ok(created_or_ok(created))
}

async fn delete_capabilities(
    State(backend): State<Shared>,
    Extension(caller): Extension<Caller>,
    UrlPath(target): UrlPath<String>,
) -> Result<Response, ApiError> {
    let device = device(&backend, &caller).await?;
    if !DeviceId::is_valid(&target) {
        return Err(ApiError::bad_request(format!(
            "`{target}` is not a device id"
        )));
    }
    if !speaks_for(&device, &target) {
        return Err(ApiError::not_authorized(format!(
            "you are device `{device}` and may remove only its own capabilities and those of the devices behind it"
        )));
    }
    let t = target.clone();
    let existed = blocking(move || backend.delete_capabilities(&t)).await?;
    if !existed {
        return Err(ApiError::margo_not_found(
            "device-not-found",
            format!("device `{target}` has reported no capabilities"),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn status(
    State(backend): State<Shared>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody<MAX_BODY>,
) -> Result<Response, ApiError> {
    let device = device(&backend, &caller).await?;
    if !DeploymentId::is_valid(&id) {
        return Err(ApiError::bad_request(format!(
            "`{id}` is not a deployment id"
        )));
    }
    let doc: DeploymentStatusManifest = document(&body, "deployment status")?;
    if doc.adopted_manifest_version.is_none() {
        // Read tolerantly (README "Compatibility"); kept with no version,
        // so it is tied to no document.
        tracing::warn!(
            device,
            deployment = id,
            "a status report without adoptedManifestVersion, as clients before rc.3 send: taken, tied to no manifest version"
        );
    }
    if doc.deployment_id.as_str() != id {
        return Err(ApiError::unprocessable(format!(
            "`deploymentId` is `{}` but the report was sent for `{id}`",
            doc.deployment_id
        )));
    }
    // A gateway reports for a child behind it with the child's `deviceId`.
    let subject = doc
        .device_id
        .as_ref()
        .map_or_else(|| device.clone(), ToString::to_string);
    if !speaks_for(&device, &subject) {
        return Err(ApiError::not_authorized(format!(
            "you are device `{device}` and may not report for `{subject}`"
        )));
    }
    let (b, dev, i) = (backend.clone(), device.clone(), id.clone());
    match blocking(move || b.owner(&dev, &i)).await? {
        Some(owner) if owner == subject => {}
        Some(owner) if speaks_for(&device, &owner) => {
            return Err(ApiError::unprocessable(format!(
                "deployment `{id}` is for device `{owner}`: report it with `deviceId: {owner}`"
            )));
        }
        Some(_) => {
            return Err(ApiError::not_authorized(format!(
                "deployment `{id}` is not one of yours"
            )));
        }
        None => {
            return Err(ApiError::margo_not_found(
                "deployment-not-found",
                format!("deployment `{id}` was never given to you"),
            ));
        }
    }
    let span =
        crate::trace::report_taken(&subject, crate::trace::Traceparent::from_headers(&headers));
    let created =
        tracing::Instrument::instrument(blocking(move || backend.status(&subject, &doc)), span)
            .await?;
    metrics::REPORTS.add(1);
    Ok(created_or_ok(created))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::extract::{Extension, State};
    use axum::http::{HeaderMap, HeaderValue, StatusCode, header};

    use super::{MAX_WAIT, prefer_wait};
    use crate::error::ApiError;
    use crate::south::Caller;
    use crate::south::view::DeviceView;

    fn h(name: header::HeaderName, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(name, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn accept_is_negotiated() {
        assert!(super::accepts_manifest(&HeaderMap::new()));
        for ok in [
            "application/vnd.margo.manifest.v1+json",
            "text/html, */*;q=0.1",
            "application/*",
            "APPLICATION/VND.MARGO.MANIFEST.V1+JSON; charset=utf-8",
        ] {
            assert!(super::accepts_manifest(&h(header::ACCEPT, ok)), "{ok}");
        }
        for bad in [
            "text/html",
            "application/json",
            "application/vnd.margo.manifest.v1+json;q=0",
        ] {
            assert!(!super::accepts_manifest(&h(header::ACCEPT, bad)), "{bad}");
        }
    }

    #[test]
    fn prefer_wait_is_read_and_capped() {
        let w = |v: &str| prefer_wait(&h(header::HeaderName::from_static("prefer"), v));
        assert_eq!(w("wait=5"), Some(std::time::Duration::from_secs(5)));
        assert_eq!(
            w("respond-async, wait=7"),
            Some(std::time::Duration::from_secs(7))
        );
        assert_eq!(w("wait=3600"), Some(MAX_WAIT));
        assert_eq!(w("wait=soon"), None);
        assert_eq!(w("return=minimal"), None);
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let tag = "\"sha256:ab\"";
        assert!(super::none_match(&h(header::IF_NONE_MATCH, tag), tag));
        assert!(super::none_match(
            &h(header::IF_NONE_MATCH, "\"x\", W/\"sha256:ab\""),
            tag
        ));
        assert!(super::none_match(&h(header::IF_NONE_MATCH, "*"), tag));
        assert!(!super::none_match(
            &h(header::IF_NONE_MATCH, "\"sha256:cd\""),
            tag
        ));
        assert!(!super::none_match(&HeaderMap::new(), tag));
    }

    /// A backend whose views are rebuilt right after the first read, the
    /// way an LO's rebuild can finish while a long poll is starting.
    struct Racing {
        views: std::sync::Mutex<(usize, Arc<DeviceView>)>,
        next: Arc<DeviceView>,
        changes: tokio::sync::watch::Sender<u64>,
    }

    impl crate::south::backend::Backend for Racing {
        fn device(&self, _: &Caller) -> Result<String, ApiError> {
            Ok("d".into())
        }
        fn view(&self, _: &str) -> Result<Arc<DeviceView>, ApiError> {
            let mut v = self.views.lock().unwrap();
            let read = v.1.clone();
            v.0 += 1;
            if v.0 == 1 {
                v.1 = self.next.clone();
                self.changes.send_modify(|n| *n += 1);
            }
            Ok(read)
        }
        fn owner(&self, _: &str, _: &str) -> Result<Option<String>, ApiError> {
            Ok(None)
        }
        fn capabilities(
            &self,
            _: &str,
            _: &edge_model::capabilities::DeviceCapabilitiesManifest,
        ) -> Result<bool, ApiError> {
            Ok(false)
        }
        fn reported(&self, _: &str) -> Result<bool, ApiError> {
            Ok(false)
        }
        fn delete_capabilities(&self, _: &str) -> Result<bool, ApiError> {
            Ok(false)
        }
        fn status(
            &self,
            _: &str,
            _: &edge_model::status::DeploymentStatusManifest,
        ) -> Result<bool, ApiError> {
            Ok(false)
        }
        fn changes(&self, _: &str) -> Option<tokio::sync::watch::Receiver<u64>> {
            Some(self.changes.subscribe())
        }
        fn artifact(
            &self,
            _: &Caller,
            _: &str,
            _: &edge_model::Digest,
        ) -> Result<Option<std::path::PathBuf>, ApiError> {
            Ok(None)
        }
    }

    /// The route table builds: axum refuses conflicting routes only when
    /// it is built, which happens for every connection.
    #[test]
    fn the_route_table_builds() {
        let view = Arc::new(crate::south::view::test_view(1));
        let backend: crate::south::backend::Shared = Arc::new(Racing {
            views: std::sync::Mutex::new((0, view.clone())),
            next: view,
            changes: tokio::sync::watch::Sender::new(0),
        });
        let caller = Caller {
            fingerprint: String::new(),
            spiffe_id: None,
            not_after: 0,
        };
        let _ = super::router(backend, caller);
    }

    #[tokio::test]
    async fn a_rebuild_finishing_as_a_long_poll_starts_wakes_it() {
        let (old, new) = (
            Arc::new(crate::south::view::test_view(1)),
            Arc::new(crate::south::view::test_view(2)),
        );
        assert_ne!(old.etag, new.etag);
        let backend: crate::south::backend::Shared = Arc::new(Racing {
            views: std::sync::Mutex::new((0, old.clone())),
            next: new.clone(),
            changes: tokio::sync::watch::Sender::new(0),
        });
        let caller = Caller {
            fingerprint: String::new(),
            spiffe_id: None,
            not_after: i64::MAX,
        };
        let mut headers = h(header::IF_NONE_MATCH, &old.etag);
        headers.insert(
            header::HeaderName::from_static("prefer"),
            HeaderValue::from_static("wait=2"),
        );
        // Missed, the change would leave this waiting out its 2 s and
        // answering 304 with the old view.
        let resp = super::manifest(State(backend), Extension(caller), headers)
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::ETAG], new.etag.as_str());
    }
}
