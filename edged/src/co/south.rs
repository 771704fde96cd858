//! The CO's south listener: mutual TLS 1.3 with identities from the CO's CA.
//! Today it serves each site's desired-state repository read-only over Git
//! smart HTTP (`/git/<site>.git/…`) by running `git http-backend`; only the
//! enrolled, unrevoked Local Orchestrator of that site may read it, and pushes
//! are refused. The caller is recognized by its certificate's fingerprint on
//! every request, so a revocation takes effect at once.

use std::process::Stdio;
use std::sync::Arc;

use anyhow::Context as _;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt as _;

use super::db;
use super::error::ApiError;
use super::identity;
use super::store::Store;

/// Largest request body a Git client sends (fetch negotiation); below git's
/// own 10 MB limit, so git never dies half-way through reading it.
const MAX_GIT_REQUEST: usize = 8 * 1024 * 1024;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Who is calling, from the TLS handshake.
#[derive(Clone, Debug)]
struct Caller {
    fingerprint: String,
}

/// TLS settings: TLS 1.3 only, client certificates required and verified
/// against the CO's CA; the server presents `…/margo/wfm/co`.
pub(crate) fn tls_config(
    store: &Store,
    names: &[String],
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(
        CertificateDer::from_pem_slice(store.ca().cert_pem().as_bytes())
            .context("the CA certificate does not read")?,
    )?;
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .context("cannot set up client certificate verification")?;
    let spiffe = format!("spiffe://{}/margo/wfm/co", store.trust_domain());
    let issued = store.ca().issue(&spiffe, 365, names, true)?;
    let cert = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes())
        .context("the server certificate does not read")?;
    let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())
        .context("the server key does not read")?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)?;
    Ok(Arc::new(config))
}

/// Accept mTLS connections until the task is dropped.
pub(crate) async fn serve(
    store: Arc<Store>,
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        let (acceptor, store) = (acceptor.clone(), store.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(%peer, error = %e, "south TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "south TLS handshake timed out");
                    return;
                }
            };
            let Some(fingerprint) = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| identity::fingerprint(c.as_ref()))
            else {
                return;
            };
            let router = axum::Router::new()
                .route("/git/{*path}", axum::routing::any(git))
                .fallback(|| async { ApiError::not_found("no such route on the south API") })
                .layer(DefaultBodyLimit::max(MAX_GIT_REQUEST))
                .layer(Extension(Caller { fingerprint }))
                .with_state(store);
            let service = hyper_util::service::TowerToHyperService::new(router);
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn forbidden(detail: impl Into<String>) -> Response {
    ApiError::not_authorized(detail).into_response()
}

/// Git smart HTTP for one site's repository, read-only, for that site's LO.
async fn git(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    UrlPath(path): UrlPath<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((repo, rest)) = path.split_once('/') else {
        return ApiError::not_found("no such repository").into_response();
    };
    let Some(site) = repo.strip_suffix(".git") else {
        return ApiError::not_found("no such repository").into_response();
    };
    let query = uri.query().unwrap_or_default().to_owned();
    let who = {
        let store = store.clone();
        let fp = caller.fingerprint.clone();
        tokio::task::spawn_blocking(move || db::identity(&store.db(), &fp)).await
    };
    let identity = match who {
        Ok(Ok(Some(i))) => i,
        Ok(Ok(None)) => {
            return forbidden("this certificate is not one the CO issued to a known identity");
        }
        _ => return ApiError::internal(&anyhow::anyhow!("identity lookup failed")).into_response(),
    };
    if identity.not_after < super::clock::now() {
        return forbidden(format!(
            "the identity `{}` expired at {}; enrol again",
            identity.spiffe_id, identity.not_after
        ));
    }
    if identity.revoked_at.is_some() {
        return forbidden(format!(
            "the identity `{}` was revoked at {}",
            identity.spiffe_id,
            identity.revoked_at.unwrap_or_default()
        ));
    }
    if identity.device.is_some() || identity.site != site {
        return forbidden(format!(
            "`{}` may not read the repository of site `{site}`",
            identity.spiffe_id
        ));
    }
    if !path_ok(rest) {
        return ApiError::not_found("no such path in the repository").into_response();
    }
    if rest.contains("receive-pack") || query.to_ascii_lowercase().contains("receive") {
        return forbidden("site repositories are read-only; the CO writes them");
    }
    let root = store.site_repo(site);
    if !root.join(".git").is_dir() {
        return ApiError::not_found(format!("site `{site}` has no desired state yet"))
            .into_response();
    }
    match run_backend(&store, site, rest, &query, &method, &headers, body).await {
        Ok(resp) => resp,
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

async fn run_backend(
    store: &Store,
    site: &str,
    rest: &str,
    query: &str,
    method: &Method,
    headers: &HeaderMap,
    body: Bytes,
) -> anyhow::Result<Response> {
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let project_root = store
        .site_repo(site)
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_COUNT", "2")
        .env("GIT_CONFIG_KEY_0", "safe.directory")
        .env("GIT_CONFIG_VALUE_0", "*")
        .env("GIT_CONFIG_KEY_1", "http.receivepack")
        .env("GIT_CONFIG_VALUE_1", "false")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", format!("/{site}/.git/{rest}"))
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header(header::CONTENT_ENCODING))
        .env(
            "HTTP_GIT_PROTOCOL",
            headers
                .get("git-protocol")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run `git http-backend` (is git installed?)")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&body)
            .await
            .context("cannot send the request to git")?;
    }
    let out = child
        .wait_with_output()
        .await
        .context("git http-backend failed")?;
    let (head, payload) = split_cgi(&out.stdout).context("git http-backend gave no headers")?;
    let mut status = StatusCode::OK;
    let mut builder = Response::builder();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            status = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(StatusCode::BAD_GATEWAY);
        } else {
            builder = builder.header(name.trim(), value);
        }
    }
    if !status.is_success() {
        tracing::info!(site, %status, stderr = %String::from_utf8_lossy(&out.stderr).trim(), "git http-backend refused");
    }
    builder
        .status(status)
        .body(Body::from(payload.to_vec()))
        .context("bad CGI headers")
}

/// A repository-relative path Git clients use: no empty, `.` or `..`
/// segment, no NUL (git would refuse them anyway, with a 500).
fn path_ok(rest: &str) -> bool {
    !rest
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == ".." || seg.contains('\0'))
}

/// Split CGI output into its header block (text) and body.
fn split_cgi(out: &[u8]) -> Option<(String, &[u8])> {
    let (at, skip) = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))?;
    Some((
        String::from_utf8_lossy(&out[..at]).into_owned(),
        &out[at + skip..],
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_repository_paths_pass() {
        assert!(super::path_ok("info/refs"));
        assert!(super::path_ok("git-upload-pack"));
        for bad in [
            "../other/.git/info/refs",
            "info//refs",
            "./info/refs",
            "objects/..",
            "info/refs\0",
            "",
        ] {
            assert!(!super::path_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn cgi_output_splits_on_either_line_ending() {
        let (h, b) =
            super::split_cgi(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope")
                .unwrap();
        assert!(h.contains("404") && b == b"nope");
        let (h, b) = super::split_cgi(b"Content-Type: x\n\nbody\n\nmore").unwrap();
        assert_eq!((h.as_str(), b), ("Content-Type: x", &b"body\n\nmore"[..]));
        assert!(super::split_cgi(b"no headers").is_none());
    }
}
