//! The south client: every call an edge node makes to its fleet manager (an
//! LO, or the CO for a directly attached node) beside the state manifest
//! (`device.rs`), and every call an LO makes to its CO. All of them go over
//! mutual TLS through the `reqwest` client the caller built from its
//! identity (`mtls::Identity::blocking_client`).
//!
//! An answer that is not a success becomes a [`CallError`] by its status
//! alone ([`CallError::from_status`]): callers match `NotFound`,
//! `Unauthorized`, `TooLarge` or `Status`, never the text of a message. A
//! `Status` carries the server's [`Advice`] on trying again (its
//! `Retry-After`, and the problem's `retryable`, `retryAfterSeconds` and
//! `backoffStrategy`; [`CallError::from_answer`]).

use std::io::Read;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::retry::Advice;
use crate::routes;
use crate::types::{ArtifactPin, IntakeAck, IntakeBatch, WatchReply};

/// The W3C Trace Context header a request may carry.
pub const TRACEPARENT: &str = "traceparent";

/// Most bytes of an error body read.
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// Most bytes of a JSON answer read (a watch reply lists every revoked
/// certificate of a site).
const MAX_JSON_REPLY: u64 = 16 * 1024 * 1024;

/// Why a south call gave nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No HTTP answer (refused, DNS, TLS, timeout, a broken body).
    #[error("cannot reach `{url}`")]
    Unreachable {
        /// What was asked.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// 404: the server holds no such thing.
    #[error("`{url}` is not there: {detail}")]
    NotFound {
        /// What was asked.
        url: String,
        /// The server's problem detail (or its status line).
        detail: String,
    },
    /// 401 or 403: the server refused who we are.
    #[error("`{url}` refused this identity ({status}): {detail}")]
    Unauthorized {
        /// What was asked.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The server's problem detail (or its status line).
        detail: String,
    },
    /// 413: the request body is too large for the server.
    #[error("`{url}` refused the request as too large")]
    TooLarge {
        /// What was asked.
        url: String,
    },
    /// Any other answer that is not a success.
    #[error("`{url}` answered {status}: {detail}")]
    Status {
        /// What was asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// The server's problem detail (or its status line).
        detail: String,
        /// What the server said about trying again.
        advice: Advice,
    },
    /// A success answer that does not read as what was asked.
    #[error("the answer of `{url}` does not read: {reason}")]
    Invalid {
        /// What was asked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl CallError {
    /// The error for a non-success answer `status` to `url` with `body`
    /// (a problem detail, usually): by the problem's registered Margo `type`
    /// when it has one (rc.3: clients branch on `type`), else by the status;
    /// never by its text.
    #[must_use]
    pub fn from_status(url: &str, status: u16, body: &[u8]) -> Self {
        Self::from_answer(url, status, None, body)
    }

    /// [`CallError::from_status`] for an answer that came with the
    /// `Retry-After` header `retry_after`: the server's [`Advice`] is read
    /// from it and from the problem in `body`.
    #[must_use]
    pub fn from_answer(url: &str, status: u16, retry_after: Option<&[u8]>, body: &[u8]) -> Self {
        let url = url.to_owned();
        let detail = problem_detail(status, body);
        match margo_type(body) {
            Some("not-authorized") => {
                return Self::Unauthorized {
                    url,
                    status,
                    detail,
                };
            }
            Some(
                "device-not-found"
                | "deployment-not-found"
                | "gateway-not-found"
                | "invalid-bundle",
            ) => {
                return Self::NotFound { url, detail };
            }
            // Registered types of requests that will not pass as they are.
            Some("invalid-request" | "semantic-error" | "server-cannot-generate-response") => {
                return Self::Status {
                    url,
                    status,
                    detail,
                    advice: Advice {
                        retryable: Some(false),
                        ..Advice::read(retry_after, body, std::time::SystemTime::now())
                    },
                };
            }
            // `about:blank`, another vendor's type or none: by the status.
            _ => {}
        }
        match status {
            401 | 403 => Self::Unauthorized {
                url,
                status,
                detail,
            },
            404 => Self::NotFound { url, detail },
            413 => Self::TooLarge { url },
            _ => Self::Status {
                url,
                status,
                detail,
                advice: Advice::read(retry_after, body, std::time::SystemTime::now()),
            },
        }
    }

    /// Worth retrying later as it is: no answer, or one whose problem says
    /// `retryable: true`, or, when it says nothing, one whose status says
    /// the server is busy or failing (429, 5xx). Anything else is refused
    /// for good.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Status { status, advice, .. } => {
                advice.retryable.unwrap_or(*status == 429 || *status >= 500)
            }
            _ => false,
        }
    }

    /// The server's advice on trying again (none without an answer that
    /// gave some).
    #[must_use]
    pub fn advice(&self) -> Advice {
        match self {
            Self::Status { advice, .. } => *advice,
            _ => Advice::default(),
        }
    }

    /// The HTTP status of the answer, when there was one.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unreachable { .. } | Self::Invalid { .. } => None,
            Self::NotFound { .. } => Some(404),
            Self::TooLarge { .. } => Some(413),
            Self::Unauthorized { status, .. } | Self::Status { status, .. } => Some(*status),
        }
    }
}

/// The problem's type (last segment) and detail of an error body, or the
/// status line when it is not a problem detail.
/// The registered Margo problem type a problem body names (`not-authorized`
/// of `https://docs.margo.org/specification/problem-types#not-authorized`),
/// if any; read as text, never fetched.
fn margo_type(body: &[u8]) -> Option<&'static str> {
    const REGISTERED: [&str; 8] = [
        "invalid-request",
        "semantic-error",
        "not-authorized",
        "gateway-not-found",
        "device-not-found",
        "invalid-bundle",
        "deployment-not-found",
        "server-cannot-generate-response",
    ];
    let p: serde_json::Value = serde_json::from_slice(body).ok()?;
    let t = p["type"]
        .as_str()?
        .strip_prefix(edge_model::problem::MARGO_PROBLEM_BASE)?;
    REGISTERED.into_iter().find(|r| *r == t)
}

fn problem_detail(status: u16, body: &[u8]) -> String {
    let p: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let detail = p["detail"].as_str().unwrap_or_default();
    let kind = p["type"]
        .as_str()
        .and_then(|t| t.rsplit(['#', '/']).next())
        .unwrap_or_default();
    match (kind, detail) {
        ("", "") => reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no detail")
            .to_owned(),
        ("", d) => d.to_owned(),
        (k, "") => k.to_owned(),
        (k, d) => format!("{k}: {d}"),
    }
}

/// Read at most `limit` bytes of `resp`'s body.
fn read_small(
    url: &str,
    resp: reqwest::blocking::Response,
    limit: u64,
) -> Result<Vec<u8>, CallError> {
    let mut body = Vec::new();
    resp.take(limit)
        .read_to_end(&mut body)
        .map_err(|e| CallError::Invalid {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(body)
}

/// The [`CallError`] of `resp`, an answer that is not a success: its
/// status, its `Retry-After` and its problem detail (read bounded).
#[must_use]
pub fn refused(url: &str, resp: reqwest::blocking::Response) -> CallError {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .map(|v| v.as_bytes().to_vec());
    let body = read_small(url, resp, MAX_ERROR_BODY).unwrap_or_default();
    CallError::from_answer(url, status, retry_after.as_deref(), &body)
}

/// `resp` when it is a success; its [`CallError`] otherwise.
fn success(
    url: &str,
    resp: reqwest::blocking::Response,
) -> Result<reqwest::blocking::Response, CallError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    Err(refused(url, resp))
}

/// The URL of `site`'s repository at the CO `base` (for Git smart HTTP,
/// which the Git client speaks itself).
#[must_use]
pub fn site_git_url(base: &str, site: &str) -> String {
    format!(
        "{}{}",
        base.trim_end_matches('/'),
        routes::fill(routes::SITE_GIT, site)
    )
}

/// Largest OCI manifest read from a fleet manager's registry.
pub const MAX_OCI_MANIFEST: u64 = 4 * 1024 * 1024;

/// `/v2/<name>/<kind>/<reference>`, each segment of `name` and the
/// reference percent-encoded (a digest keeps its `:`).
fn oci_path(name: &str, kind: &str, reference: &str) -> String {
    let name: Vec<String> = name.split('/').map(routes::encode).collect();
    let reference: Vec<String> = reference.split(':').map(routes::encode).collect();
    format!("/v2/{}/{kind}/{}", name.join("/"), reference.join(":"))
}

/// A source of an artifact's bytes, starting at some offset.
pub type BlobReader = Box<dyn Read + Send>;

/// The south API of one server (`https://host:port`).
#[derive(Debug, Clone)]
pub struct South {
    base: String,
    pub(crate) http: reqwest::blocking::Client,
}

impl South {
    /// Calls to `base` through `http`.
    #[must_use]
    pub fn new(base: &str, http: reqwest::blocking::Client) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The server this client calls.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The full URL of `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn send(
        &self,
        url: &str,
        req: reqwest::blocking::RequestBuilder,
    ) -> Result<reqwest::blocking::Response, CallError> {
        let resp = req.send().map_err(|source| CallError::Unreachable {
            url: url.to_owned(),
            source,
        })?;
        success(url, resp)
    }

    pub(crate) fn json<T: DeserializeOwned>(
        url: &str,
        resp: reqwest::blocking::Response,
    ) -> Result<T, CallError> {
        let body = read_small(url, resp, MAX_JSON_REPLY)?;
        serde_json::from_slice(&body).map_err(|e| CallError::Invalid {
            url: url.to_owned(),
            reason: e.to_string(),
        })
    }

    pub(crate) fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CallError> {
        let url = self.url(path);
        let resp = self.send(&url, self.http.post(&url).json(body))?;
        Self::json(&url, resp)
    }

    // --- an LO and its CO ---

    /// Wait at the CO up to `wait_secs` for the site's head to differ from
    /// `have`, or its revoked and issued certificates from `counts` in
    /// number (an issued count of `None`: the LO has no list yet). With
    /// `carry`, a new head comes with the Git objects after `have` when they
    /// are few ([`WatchReply::objects`]).
    ///
    /// # Errors
    /// When the CO cannot be reached, refuses, or answers something else.
    pub fn watch(
        &self,
        have: Option<&str>,
        (revoked, issued): (usize, Option<usize>),
        wait_secs: u64,
        carry: bool,
    ) -> Result<WatchReply, CallError> {
        let mut path = format!("{}?revoked={revoked}&wait={wait_secs}", routes::LO_WATCH);
        if carry {
            path.push_str("&carry=true");
        }
        if let Some(n) = issued {
            path.push_str(&format!("&issued={n}"));
        }
        if let Some(h) = have {
            path.push_str("&have=");
            path.push_str(&routes::encode(h));
        }
        let url = self.url(&path);
        let resp = self.send(&url, self.http.get(&url))?;
        Self::json(&url, resp)
    }

    /// Hand the CO a batch of the LO's outbox; it answers up to which
    /// sequence number it has stored.
    ///
    /// # Errors
    /// When the CO cannot be reached or refuses ([`CallError::TooLarge`]
    /// for a batch over its limit).
    pub fn intake(&self, batch: &IntakeBatch) -> Result<IntakeAck, CallError> {
        self.post_json(routes::LO_INTAKE, batch)
    }

    /// [`South::intake`], with a W3C `traceparent` header when given (the
    /// trace the batch continues).
    ///
    /// # Errors
    /// As [`South::intake`].
    pub fn intake_traced(
        &self,
        batch: &IntakeBatch,
        traceparent: Option<&str>,
    ) -> Result<IntakeAck, CallError> {
        let url = self.url(routes::LO_INTAKE);
        let mut req = self.http.post(&url).json(batch);
        if let Some(tp) = traceparent {
            req = req.header(TRACEPARENT, tp);
        }
        let resp = self.send(&url, req)?;
        Self::json(&url, resp)
    }

    // --- an edge node and its fleet manager ---

    /// Report `device`'s capabilities (a Margo capabilities document).
    ///
    /// # Errors
    /// When the fleet manager cannot be reached or refuses.
    pub fn report_capabilities(&self, device: &str, body: Vec<u8>) -> Result<(), CallError> {
        let url = self.url(&routes::fill_all(routes::MARGO_CAPABILITIES, &[device]));
        let req = self
            .http
            .put(&url)
            .header("content-type", "application/json")
            .body(body);
        self.send(&url, req).map(drop)
    }

    /// Report the status of `deployment` (a Margo status document).
    ///
    /// # Errors
    /// When the fleet manager cannot be reached or refuses.
    pub fn report_status(&self, deployment: &str, body: Vec<u8>) -> Result<(), CallError> {
        self.report_status_traced(deployment, body, None)
    }

    /// [`South::report_status`], with a W3C `traceparent` header when given
    /// (the trace the report belongs to).
    ///
    /// # Errors
    /// As [`South::report_status`].
    pub fn report_status_traced(
        &self,
        deployment: &str,
        body: Vec<u8>,
        traceparent: Option<&str>,
    ) -> Result<(), CallError> {
        let url = self.url(&routes::fill_all(routes::MARGO_STATUS, &[deployment]));
        let mut req = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(tp) = traceparent {
            req = req.header(TRACEPARENT, tp);
        }
        self.send(&url, req).map(drop)
    }

    /// Which artifact the fleet manager holds for the registry reference
    /// `asked` (`oci://…`) of app `app`.
    ///
    /// # Errors
    /// [`CallError::NotFound`] when it holds none; otherwise when it cannot
    /// be asked or answers for another reference.
    pub fn pin(&self, app: &str, asked: &str) -> Result<ArtifactPin, CallError> {
        let path = format!(
            "{}?reference={}",
            routes::fill_all(routes::PINS, &[app]),
            routes::encode(asked)
        );
        let url = self.url(&path);
        let resp = self.send(&url, self.http.get(&url))?;
        let pin: ArtifactPin = Self::json(&url, resp)?;
        if pin.reference != asked {
            return Err(CallError::Invalid {
                url,
                reason: format!("it answers for `{}`, not `{asked}`", pin.reference),
            });
        }
        Ok(pin)
    }

    /// The URL of blob `digest` under repository `name`: an app id (where
    /// edge nodes fetched package-local artifacts before the registry named
    /// them) or a registry name such as `<app>/<component>`.
    #[must_use]
    pub fn blob_url(&self, name: &str, digest: &str) -> String {
        self.url(&oci_path(name, "blobs", digest))
    }

    /// The manifest the fleet manager's OCI registry serves under repository
    /// `name` for `reference` (a tag or digest), at most
    /// [`MAX_OCI_MANIFEST`] bytes: its bytes, unchecked.
    ///
    /// # Errors
    /// [`CallError::NotFound`] when it serves none (its error JSON is not a
    /// Margo problem: a 404 is taken by its status); otherwise when it
    /// cannot be reached or refuses.
    pub fn oci_manifest(&self, name: &str, reference: &str) -> Result<Vec<u8>, CallError> {
        let url = self.url(&oci_path(name, "manifests", reference));
        let req = self.http.get(&url).header(
            reqwest::header::ACCEPT,
            "application/vnd.oci.image.manifest.v1+json",
        );
        let resp = self.send(&url, req)?;
        read_small(&url, resp, MAX_OCI_MANIFEST)
    }

    /// App `app`'s artifact `digest` from byte `from` on (an HTTP range);
    /// answers where the bytes start: `from`, or 0 when the server sends
    /// the whole artifact. Asked past its end, it answers `from` and no
    /// bytes (the partial copy is complete).
    ///
    /// # Errors
    /// [`CallError::NotFound`] when the server holds no such artifact;
    /// otherwise when it cannot be reached or refuses.
    pub fn open_blob(
        &self,
        app: &str,
        digest: &str,
        from: u64,
    ) -> Result<(u64, BlobReader), CallError> {
        let url = self.blob_url(app, digest);
        let mut req = self.http.get(&url);
        if from > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        let resp = req.send().map_err(|source| CallError::Unreachable {
            url: url.clone(),
            source,
        })?;
        match resp.status().as_u16() {
            206 if from > 0 => Ok((from, Box::new(resp))),
            200 => Ok((0, Box::new(resp))),
            416 => Ok((from, Box::new(std::io::empty()))),
            _ => Err(refused(&url, resp)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::TcpListener;

    use super::*;

    fn problem(kind: &str, detail: &str) -> Vec<u8> {
        serde_json::json!({"type": format!("https://margo.org/problems#{kind}"), "title": "t", "status": 0, "detail": detail})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_registered_margo_type_decides_over_the_status() {
        let u = "https://lo/x";
        let margo = |t: &str, status: u16| {
            format!(
                r#"{{"type":"{}{t}","title":"x","status":{status}}}"#,
                edge_model::problem::MARGO_PROBLEM_BASE
            )
            .into_bytes()
        };
        // The type, whatever status came with it.
        let e = CallError::from_status(u, 409, &margo("not-authorized", 409));
        assert!(
            matches!(e, CallError::Unauthorized { status: 409, .. }),
            "{e}"
        );
        let e = CallError::from_status(u, 500, &margo("deployment-not-found", 500));
        assert!(matches!(e, CallError::NotFound { .. }), "{e}");
        let e = CallError::from_status(u, 503, &margo("semantic-error", 503));
        assert!(
            !e.is_transient(),
            "a semantic error will not pass as it is: {e}"
        );
        // about:blank, a vendor's type or an unregistered fragment: the status.
        for t in [
            "about:blank".to_owned(),
            "https://vendor.example/problems#not-authorized".to_owned(),
            format!("{}no-such-type", edge_model::problem::MARGO_PROBLEM_BASE),
        ] {
            let body = format!(r#"{{"type":"{t}","title":"x","status":503}}"#);
            let e = CallError::from_status(u, 503, body.as_bytes());
            assert!(
                matches!(e, CallError::Status { status: 503, .. }) && e.is_transient(),
                "{t}: {e}"
            );
        }
    }

    #[test]
    fn statuses_map_to_kinds_never_to_text() {
        let u = "https://lo/x";
        let e = CallError::from_status(u, 404, &problem("not-found", "no such site"));
        assert!(
            matches!(&e, CallError::NotFound { detail, .. } if detail == "not-found: no such site"),
            "{e}"
        );
        for s in [401, 403] {
            let e = CallError::from_status(u, s, b"");
            assert!(matches!(e, CallError::Unauthorized { status, .. } if status == s));
        }
        assert!(matches!(
            CallError::from_status(u, 413, b""),
            CallError::TooLarge { .. }
        ));
        let e = CallError::from_status(u, 503, b"not json");
        assert!(
            matches!(&e, CallError::Status { status: 503, detail, .. } if detail == "Service Unavailable"),
            "{e}"
        );
        assert!(e.is_transient());
        assert!(CallError::from_status(u, 429, b"").is_transient());
        assert!(!CallError::from_status(u, 400, b"").is_transient());
        assert!(!CallError::from_status(u, 404, b"").is_transient());
        // A 404 whose detail speaks of something else is still a 404, and
        // a 500 that quotes "404 Not Found" is not one.
        // The problem's `retryable` decides over the status; its advice
        // and the header's are kept.
        let body = br#"{"type":"about:blank","title":"t","status":503,"retryable":false}"#;
        assert!(!CallError::from_status(u, 503, body).is_transient());
        let body = br#"{"type":"about:blank","title":"t","status":409,"retryable":true}"#;
        assert!(CallError::from_status(u, 409, body).is_transient());
        let e = CallError::from_answer(u, 429, Some(b"4"), b"");
        assert_eq!(e.advice().after, Some(std::time::Duration::from_secs(4)));
        assert_eq!(
            CallError::from_status(u, 404, b"").advice(),
            Advice::default()
        );
        let e = CallError::from_status(u, 500, &problem("internal", "404 Not Found"));
        assert!(matches!(e, CallError::Status { status: 500, .. }));
        assert_eq!(e.status(), Some(500));
    }

    /// A loopback server answering each request with the next of `answers`
    /// (status line, extra headers, body); gives back the requests' heads.
    fn serve(
        answers: Vec<(&'static str, &'static str, Vec<u8>)>,
    ) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for (status, headers, body) in answers {
                let (mut s, _) = l.accept().unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    head.push_str(&line);
                }
                heads.push(head);
                write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n",
                    body.len()
                )
                .unwrap();
                s.write_all(&body).unwrap();
            }
            heads
        });
        (base, t)
    }

    #[test]
    fn a_refusal_keeps_its_retry_after_and_its_problem_s_advice() {
        let body = br#"{"type":"about:blank","title":"Service Unavailable","status":503,
            "retryable":true,"backoffStrategy":"fixed"}"#;
        let (base, server) = serve(vec![(
            "503 Service Unavailable",
            "retry-after: 2\r\ncontent-type: application/problem+json\r\n",
            body.to_vec(),
        )]);
        let south = South::new(&base, reqwest::blocking::Client::new());
        let e = south.report_status("d", b"{}".to_vec()).unwrap_err();
        assert!(e.is_transient(), "{e}");
        let a = e.advice();
        assert_eq!(a.after, Some(std::time::Duration::from_secs(2)));
        assert_eq!(a.strategy, Some(crate::retry::Strategy::Fixed));
        assert_eq!(a.retryable, Some(true));
        server.join().unwrap();
    }

    #[test]
    fn calls_against_a_loopback_server() {
        let d = format!("sha256:{}", "b".repeat(64));
        let pin =
            serde_json::json!({"reference": "oci://r/a:1", "digest": d, "size": 3}).to_string();
        let (base, server) = serve(vec![
            ("404 Not Found", "", problem("not-found", "no pin")),
            (
                "200 OK",
                "content-type: application/json\r\n",
                pin.into_bytes(),
            ),
            ("206 Partial Content", "", b"lo".to_vec()),
            ("416 Range Not Satisfiable", "", Vec::new()),
            ("401 Unauthorized", "", Vec::new()),
            ("413 Payload Too Large", "", Vec::new()),
        ]);
        let south = South::new(&format!("{base}/"), reqwest::blocking::Client::new());
        let e = south.pin("a", "oci://r/a:1").unwrap_err();
        assert!(matches!(e, CallError::NotFound { .. }), "{e}");
        assert_eq!(south.pin("a", "oci://r/a:1").unwrap().size, 3);
        let (start, mut r) = south.open_blob("a", &d, 1).unwrap();
        let mut got = String::new();
        r.read_to_string(&mut got).unwrap();
        assert_eq!((start, got.as_str()), (1, "lo"));
        let (start, mut r) = south.open_blob("a", &d, 3).unwrap();
        assert_eq!((start, r.read(&mut [0; 4]).unwrap()), (3, 0));
        let e = south
            .watch(Some("abc"), (2, Some(1)), 25, false)
            .unwrap_err();
        assert!(
            matches!(e, CallError::Unauthorized { status: 401, .. }),
            "{e}"
        );
        let batch = IntakeBatch {
            epoch: "e".into(),
            entries: Vec::new(),
        };
        assert!(matches!(
            south.intake(&batch),
            Err(CallError::TooLarge { .. })
        ));
        let heads = server.join().unwrap();
        assert!(
            heads[0].starts_with("GET /v2/a/pins?reference=oci%3A%2F%2Fr%2Fa%3A1 "),
            "{}",
            heads[0]
        );
        assert!(
            heads[2].starts_with(&format!("GET /v2/a/blobs/{d} ")),
            "{}",
            heads[2]
        );
        assert!(
            heads[2].to_lowercase().contains("range: bytes=1-"),
            "{}",
            heads[2]
        );
        assert!(
            heads[4].starts_with("GET /lo/v1/watch?revoked=2&wait=25&issued=1&have=abc "),
            "{}",
            heads[4]
        );
        assert!(heads[5].starts_with("POST /lo/v1/intake "), "{}", heads[5]);
        let e = South::new("http://127.0.0.1:1", reqwest::blocking::Client::new())
            .intake(&batch)
            .unwrap_err();
        assert!(
            matches!(e, CallError::Unreachable { .. }) && e.is_transient(),
            "{e}"
        );
    }
}
