//! The read-only pull side of the OCI Distribution Spec (v1.1), served to
//! edge nodes over the same mutual TLS as the Margo API, so any OCI client
//! that presents a device's identity (podman and skopeo read a client
//! certificate from a certs folder) pulls a site's artifacts from its LO:
//!
//! - `GET /v2/`: `200 {}` with `Docker-Distribution-API-Version: registry/2.0`.
//! - `GET|HEAD /v2/<name>/manifests/<tag|digest>`: the manifest's exact
//!   bytes, its `Content-Type`, `Docker-Content-Digest`, `Content-Length`.
//! - `GET|HEAD /v2/<name>/blobs/<digest>`: streamed from the store, a single
//!   `Range` answered with 206 (416 past the end).
//! - `GET /v2/<name>/tags/list`: the tags of the caller's entries there.
//!
//! `GET /v2/<app>/pins` (ours, [`super::blobs::pin`]) is told apart here too.
//!
//! What a device sees is made from its own deployments only ([`catalog`]):
//! anything else is unknown, the same as what does not exist. Every name,
//! tag and digest is checked against the spec's grammar ([`grammar`])
//! before use; every failure is the spec's error JSON with its code. Pushes
//! and deletes are `UNSUPPORTED`. Under a single-segment name (an app id)
//! the blobs edge nodes fetched before the registry had manifests are still
//! served ([`super::blobs::by_app`]).

mod catalog;
pub(crate) mod grammar;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use edge_model::Digest;

use super::Caller;
use super::backend::Shared;
use super::view::DeviceView;
use crate::error::ApiError;
use crate::http::blocking;

use catalog::EMPTY_DIGEST;

/// The version header every answer carries.
const API_VERSION: (&str, &str) = ("docker-distribution-api-version", "registry/2.0");
/// Bytes read from the store per chunk of a streamed blob.
const CHUNK: usize = 64 * 1024;
/// `Cache-Control` of content-addressed answers.
const IMMUTABLE: &str = "private, max-age=31536000, immutable";

/// A failure as the spec writes it: a status and `{"errors":[{code,message}]}`.
#[derive(Debug)]
pub(crate) struct OciError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl OciError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// A failure of the server's own calls: `unknown` (the code for what
    /// is being looked up) for a 404, `DENIED` for a caller refused.
    fn from_api(e: &ApiError, unknown: &'static str) -> Self {
        let status = e.status();
        let code = match status.as_u16() {
            401 | 403 => "DENIED",
            404 => unknown,
            503 => "UNAVAILABLE",
            s if s >= 500 => "UNKNOWN",
            _ => "UNSUPPORTED",
        };
        Self::new(status, code, e.detail())
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{"code": self.code, "message": self.message}]
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut()
            .insert(API_VERSION.0, HeaderValue::from_static(API_VERSION.1));
        resp
    }
}

/// `GET /v2/`: this is a registry, and the caller may use it.
pub(super) async fn base(
    State(backend): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match super::margo::who(&backend, &caller).await {
        Ok(_) => {
            let mut resp = (StatusCode::OK, axum::Json(serde_json::json!({}))).into_response();
            resp.headers_mut()
                .insert(API_VERSION.0, HeaderValue::from_static(API_VERSION.1));
            resp
        }
        Err(e) => OciError::from_api(&e, "NAME_UNKNOWN").into_response(),
    }
}

/// What a path under `/v2/` asks for.
#[derive(Debug, PartialEq, Eq)]
enum Ask<'a> {
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Tags(&'a str),
}

/// Split `<name>/manifests/<ref>`, `<name>/blobs/<digest>` or
/// `<name>/tags/list`, the name checked against the grammar.
fn ask(path: &str) -> Result<Ask<'_>, OciError> {
    let mut parts = path.rsplitn(3, '/');
    let (Some(last), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(unknown_route(path));
    };
    let ask = match (kind, last) {
        ("manifests", r) => Ask::Manifest(name, r),
        ("blobs", d) => Ask::Blob(name, d),
        ("tags", "list") => Ask::Tags(name),
        _ => return Err(unknown_route(path)),
    };
    if !grammar::name_ok(name) {
        return Err(OciError::new(
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
            format!(
                "`{}` is not a repository name (lower-case letters and digits, separated by `.`, `_`, `__`, `-` or `/`, at most {} bytes)",
                name.chars().take(300).collect::<String>(),
                grammar::MAX_NAME
            ),
        ));
    }
    Ok(ask)
}

fn unknown_route(path: &str) -> OciError {
    OciError::new(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        format!(
            "`/v2/{}` is not a manifest, blob or tag list path of this registry",
            path.chars().take(300).collect::<String>()
        ),
    )
}

/// Every path under `/v2/` but `/v2/` itself.
pub(super) async fn dispatch(
    State(backend): State<Shared>,
    Extension(caller): Extension<Caller>,
    UrlPath(path): UrlPath<String>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    // `<app>/pins`: ours, beside the registry (one catch-all route takes
    // every path under `/v2/`, so it is told apart here).
    if let Some(app) = path.strip_suffix("/pins")
        && !app.contains('/')
        && method == Method::GET
    {
        let query = axum::extract::Query::try_from_uri(&uri);
        return super::blobs::pin(
            State(backend),
            Extension(caller),
            UrlPath(app.to_owned()),
            query,
        )
        .await
        .into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return OciError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "this registry is read-only: it answers GET and HEAD",
        )
        .into_response();
    }
    let head = method == Method::HEAD;
    let result = match ask(&path) {
        Err(e) => Err(e),
        Ok(Ask::Manifest(name, reference)) => {
            manifest(&backend, &caller, name, reference, head).await
        }
        Ok(Ask::Blob(name, digest)) => blob(&backend, &caller, name, digest, &headers, head).await,
        Ok(Ask::Tags(name)) => tags(&backend, &caller, name).await,
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The caller's view, when it is a device of this server.
async fn view_of(
    backend: &Shared,
    caller: &Caller,
) -> Result<std::sync::Arc<DeviceView>, OciError> {
    super::margo::who(backend, caller)
        .await
        .map(|(_, v)| v)
        .map_err(|e| OciError::from_api(&e, "NAME_UNKNOWN"))
}

/// The entries of `name` for the caller (blocking reads); `asked`, the tag
/// or digest of a manifest request, may be pulled through.
async fn entries(
    backend: &Shared,
    caller: &Caller,
    name: &str,
    asked: Option<&str>,
    unknown: &'static str,
) -> Result<Vec<catalog::Entry>, OciError> {
    let view = view_of(backend, caller).await?;
    let (b, c, n) = (backend.clone(), caller.clone(), name.to_owned());
    let asked = asked.map(str::to_owned);
    blocking(move || catalog::entries(&b, &c, &view, &n, asked.as_deref()))
        .await
        .map_err(|e| OciError::from_api(&e, unknown))
}

async fn manifest(
    backend: &Shared,
    caller: &Caller,
    name: &str,
    reference: &str,
    head: bool,
) -> Result<Response, OciError> {
    let by_digest = reference.contains(':');
    let wanted =
        if by_digest {
            Some(Digest::new(reference).map_err(|e| {
                OciError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string())
            })?)
        } else if grammar::tag_ok(reference) {
            None
        } else {
            return Err(OciError::new(
                StatusCode::BAD_REQUEST,
                "MANIFEST_INVALID",
                format!(
                    "`{}` is neither a tag nor a digest",
                    reference.chars().take(200).collect::<String>()
                ),
            ));
        };
    let entries = entries(backend, caller, name, Some(reference), "MANIFEST_UNKNOWN").await?;
    let mut found: Vec<&catalog::Entry> = entries
        .iter()
        .filter(|e| match &wanted {
            Some(d) => e.digest == *d,
            None => e.tag.as_deref() == Some(reference),
        })
        .collect();
    found.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
    found.dedup_by(|a, b| a.digest == b.digest);
    let entry = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(OciError::new(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                format!("no manifest `{reference}` of `{name}` for this device"),
            ));
        }
        many => {
            let digests: Vec<&str> = many.iter().map(|e| e.digest.as_str()).collect();
            return Err(OciError::new(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                format!(
                    "`{name}:{reference}` names {} different manifests for this device; ask for one by digest: {}",
                    many.len(),
                    digests.join(", ")
                ),
            ));
        }
    };
    let digest = entry.digest.to_string();
    let len = entry.manifest.len();
    let body = if head {
        Body::empty()
    } else {
        Body::from(entry.manifest.clone())
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    put(h, header::CONTENT_TYPE, &entry.media_type);
    put(h, header::CONTENT_LENGTH, &len.to_string());
    put(h, "docker-content-digest", &digest);
    put(h, header::ETAG, &format!("\"{digest}\""));
    h.insert(API_VERSION.0, HeaderValue::from_static(API_VERSION.1));
    if by_digest {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    }
    Ok(resp)
}

fn put(h: &mut HeaderMap, name: impl axum::http::header::IntoHeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

async fn tags(backend: &Shared, caller: &Caller, name: &str) -> Result<Response, OciError> {
    let entries = entries(backend, caller, name, None, "NAME_UNKNOWN").await?;
    if entries.is_empty() {
        return Err(OciError::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            format!("no repository `{name}` for this device"),
        ));
    }
    let mut tags: Vec<String> = entries.into_iter().filter_map(|e| e.tag).collect();
    tags.sort();
    tags.dedup();
    let mut resp = axum::Json(serde_json::json!({"name": name, "tags": tags})).into_response();
    resp.headers_mut()
        .insert(API_VERSION.0, HeaderValue::from_static(API_VERSION.1));
    Ok(resp)
}

/// Where a blob's bytes are.
enum Source {
    /// The empty config of a manifest made here.
    Empty,
    /// A file of the store.
    File(std::path::PathBuf),
}

async fn blob(
    backend: &Shared,
    caller: &Caller,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, OciError> {
    let digest = Digest::new(digest)
        .map_err(|e| OciError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string()))?;
    let unknown = || {
        OciError::new(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            format!("no blob {digest} of `{name}` for this device"),
        )
    };
    // A device: what its entries under this name name.
    let is_device = {
        let (b, c) = (backend.clone(), caller.clone());
        blocking(move || Ok(b.device(&c).is_ok()))
            .await
            .unwrap_or(false)
    };
    let mut source = None;
    if is_device {
        let entries = entries(backend, caller, name, None, "BLOB_UNKNOWN").await?;
        if let Some(e) = entries.iter().find(|e| e.blobs.contains(&digest)) {
            source = Some(if digest.as_str() == EMPTY_DIGEST {
                Source::Empty
            } else {
                let (b, c, app, d) = (
                    backend.clone(),
                    caller.clone(),
                    e.app.clone(),
                    digest.clone(),
                );
                let path = blocking(move || b.artifact(&c, &app, &d))
                    .await
                    .map_err(|e| OciError::from_api(&e, "BLOB_UNKNOWN"))?;
                Source::File(path.ok_or_else(unknown)?)
            });
        }
    }
    if source.is_none() && !name.contains('/') {
        let (b, c, n, d) = (
            backend.clone(),
            caller.clone(),
            name.to_owned(),
            digest.clone(),
        );
        source = blocking(move || super::blobs::by_app(&b, &c, &n, &d))
            .await
            .map_err(|e| OciError::from_api(&e, "BLOB_UNKNOWN"))?
            .map(Source::File);
    }
    let source = source.ok_or_else(unknown)?;
    send(source, &digest, headers, head).await
}

/// The answer for a blob: whole, or the single range asked for.
async fn send(
    source: Source,
    digest: &Digest,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, OciError> {
    let internal = |e: std::io::Error| OciError::from_api(&ApiError::internal(&e.into()), "");
    let (file, len) = match source {
        Source::Empty => (None, catalog::EMPTY_DATA.len() as u64),
        Source::File(path) => {
            let file = tokio::fs::File::open(&path).await.map_err(internal)?;
            let len = file.metadata().await.map_err(internal)?.len();
            (Some(file), len)
        }
    };
    let (status, start, end) = match super::blobs::range(headers, len) {
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
        Some(Ok((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e),
        Some(Err(())) => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            put(
                resp.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{len}"),
            );
            return Ok(resp);
        }
    };
    let want = if len == 0 { 0 } else { end - start + 1 };
    let body = match (head, file) {
        (true, _) => Body::empty(),
        (false, None) => Body::from(Bytes::from_static(catalog::EMPTY_DATA)),
        (false, Some(mut file)) => {
            use tokio::io::AsyncSeekExt as _;
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(internal)?;
            stream(file, want)
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let shown = digest.to_string();
    let h = resp.headers_mut();
    put(h, header::CONTENT_TYPE, "application/octet-stream");
    put(h, header::CONTENT_LENGTH, &want.to_string());
    put(h, "docker-content-digest", &shown);
    put(h, header::ETAG, &format!("\"{shown}\""));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    h.insert(API_VERSION.0, HeaderValue::from_static(API_VERSION.1));
    if status == StatusCode::PARTIAL_CONTENT {
        put(
            h,
            header::CONTENT_RANGE,
            &format!("bytes {start}-{end}/{len}"),
        );
    }
    Ok(resp)
}

/// `want` bytes of `file` from where it stands, in chunks; a read error
/// ends the body (the client sees a short answer and asks again).
fn stream(file: tokio::fs::File, want: u64) -> Body {
    use tokio::io::AsyncReadExt as _;
    let reader = Some(file.take(want));
    let chunks = futures_util::stream::unfold(reader, |reader| async move {
        let mut r = reader?;
        let mut buf = vec![0u8; CHUNK];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), Some(r)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Body::from_stream(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_what_they_ask() {
        assert_eq!(
            ask("hello-wasm/hello/manifests/1.0.0").unwrap(),
            Ask::Manifest("hello-wasm/hello", "1.0.0")
        );
        assert_eq!(
            ask("a/blobs/sha256:00").unwrap(),
            Ask::Blob("a", "sha256:00")
        );
        assert_eq!(ask("a/b/c/tags/list").unwrap(), Ask::Tags("a/b/c"));
        for (path, code) in [
            ("a/uploads/x", "NAME_UNKNOWN"),
            ("manifests/x", "NAME_UNKNOWN"),
            ("a", "NAME_UNKNOWN"),
            ("A/manifests/x", "NAME_INVALID"),
            ("../x/manifests/1", "NAME_INVALID"),
            ("a//b/blobs/sha256:00", "NAME_INVALID"),
            ("/blobs/sha256:00", "NAME_INVALID"),
        ] {
            assert_eq!(ask(path).unwrap_err().code, code, "{path}");
        }
    }
}
