//! Git smart HTTP for the LOs: `/git/<site>.git/…` served by `git
//! http-backend` to that site's unrevoked LO only, read-only (pushes
//! refused).
//!
//! Each `git http-backend` runs in a process group of its own, so the
//! Ctrl-C that stops a CO in a terminal (sent to the terminal's whole
//! foreground group) does not kill a request in flight; the CO stops it
//! itself when it has to. Git may answer before it read the whole request
//! (one of the wrong type, say): its answer is still the answer.

use std::process::Stdio;
use std::sync::Arc;

use anyhow::Context as _;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt as _;

use crate::co::ops::identities::lo_site;
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::blocking;
use crate::south::Caller;

/// Largest request body a Git client sends (fetch negotiation); below git's
/// own 10 MB limit, so git never dies half-way through reading it.
pub(super) const MAX_GIT_REQUEST: usize = 8 * 1024 * 1024;

/// Longest a `git http-backend` run may take (it is killed after that).
const GIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

fn forbidden(detail: impl Into<String>) -> Response {
    ApiError::not_authorized(detail).into_response()
}

/// Git smart HTTP for one site's repository, read-only, for that site's LO.
pub(super) async fn git(
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
        blocking(move || lo_site(&store, &caller)).await
    };
    let own = match who {
        Ok(own) => own,
        Err(e) => return e.into_response(),
    };
    if own != site {
        return forbidden(format!(
            "the LO of site `{own}` may not read the repository of site `{site}`"
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
    let started = std::time::Instant::now();
    match run_backend(&store, site, rest, &query, &method, &headers, body).await {
        Ok(resp) => {
            tracing::debug!(target: "latency", site, path = rest, took = ?started.elapsed(), "git request");
            resp
        }
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
        .process_group(0)
        .spawn()
        .context("cannot run `git http-backend` (is git installed?)")?;
    if let Some(mut stdin) = child.stdin.take() {
        match stdin.write_all(&body).await {
            // Git ended before reading all of it: what it says follows.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            written => written.context("cannot send the request to git")?,
        }
    }
    let out = tokio::time::timeout(GIT_TIMEOUT, child.wait_with_output())
        .await
        .context("git http-backend took too long")?
        .context("git http-backend failed")?;
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&out.status) {
        // Killed from outside (an operator, the system stopping): no answer
        // to give, and nothing wrong with the CO.
        tracing::info!(
            site,
            signal,
            "git http-backend was killed; the request is answered 503"
        );
        return Ok(ApiError::unavailable(
            "the Git request was interrupted on the server; try again",
            1,
        )
        .into_response());
    }
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
