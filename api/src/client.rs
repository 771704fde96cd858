//! A small blocking client for the north API.
//!
//! Every failure becomes one [`ClientError`] whose message is a sentence a
//! person can act on: server down, token refused, or the server's problem
//! detail (with each field error). No HTTP internals leak to the user.

use std::time::Duration;

use edge_model::ProblemDetail;
use reqwest::blocking::{RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection (refused, DNS, timeout).
    #[error("cannot reach the server at {server}: {reason} (is `edged --mode co` running there?)")]
    Unreachable {
        /// The server URL.
        server: String,
        /// Why, shortly.
        reason: String,
    },
    /// 401 from the server.
    #[error(
        "the server at {server} refused the token: run `edgectl login`, or pass `--token-file` or `EDGE_TOKEN`"
    )]
    Unauthorized {
        /// The server URL.
        server: String,
    },
    /// The server answered with a problem detail.
    #[error("{}", problem_sentence(.0))]
    Problem(Box<ProblemDetail>),
    /// The server answered something unexpected.
    #[error("unexpected answer from the server ({status}): {body}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The server ended a stream because it is stopping.
    #[error("the central orchestrator at {server} is shutting down")]
    Stopping {
        /// The server URL.
        server: String,
    },
    /// The server URL is not usable.
    #[error("`{0}` is not a server URL; use something like https://127.0.0.1:7070")]
    BadServer(String),
    /// The certificate to trust is not usable.
    #[error("the CA certificate to trust is not usable: {0}")]
    BadCa(String),
}

impl ClientError {
    /// The problem detail, when the server sent one.
    #[must_use]
    pub fn problem(&self) -> Option<&ProblemDetail> {
        match self {
            Self::Problem(p) => Some(p),
            _ => None,
        }
    }
}

fn problem_sentence(p: &ProblemDetail) -> String {
    let mut s = match &p.detail {
        Some(d) => d.clone(),
        None => p.title.clone(),
    };
    for e in &p.errors {
        s.push_str(&format!("\n  {}: {}", e.field, e.message));
    }
    s
}

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client for `server` (such as `https://127.0.0.1:7070`) trusting the
    /// system's certificate authorities.
    pub fn new(server: &str, token: Option<String>) -> Result<Self, ClientError> {
        Self::with_ca(server, token, None)
    }

    /// A client for `server` that also trusts the CA certificate(s) in
    /// `ca_pem` (the CO's own CA, `DATA/ca/ca.crt`, which issues its
    /// north certificate unless the operator gave one).
    pub fn with_ca(
        server: &str,
        token: Option<String>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        Self::build(server, token, ca_pem, false)
    }

    /// A client for `server` that trusts only the CA certificate(s) in
    /// `ca_pem`, not the system's: no system store is read, which saves
    /// tens of milliseconds where a person waits on every call (shell
    /// completion).
    ///
    /// # Errors
    /// As [`Client::with_ca`].
    pub fn with_ca_only(
        server: &str,
        token: Option<String>,
        ca_pem: &[u8],
    ) -> Result<Self, ClientError> {
        Self::build(server, token, Some(ca_pem), true)
    }

    fn build(
        server: &str,
        token: Option<String>,
        ca_pem: Option<&[u8]>,
        only: bool,
    ) -> Result<Self, ClientError> {
        let base = server.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadServer(server.to_owned()));
        }
        let mut builder = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(600))
            .user_agent(concat!("edgectl/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::BadCa(e.to_string()))?;
            if certs.is_empty() {
                return Err(ClientError::BadCa("it holds no PEM certificate".to_owned()));
            }
            builder = if only {
                builder.tls_certs_only(certs)
            } else {
                builder.tls_certs_merge(certs)
            };
        }
        let http = builder.build().map_err(|e| ClientError::Unreachable {
            server: base.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self { base, token, http })
    }

    /// The server URL.
    #[must_use]
    pub fn server(&self) -> &str {
        &self.base
    }

    /// The HTTP client (for requests this type has no method for).
    pub(crate) fn http(&self) -> &reqwest::blocking::Client {
        &self.http
    }

    /// Send `req` with the token; a success answer as it is.
    pub(crate) fn send_raw(&self, req: RequestBuilder) -> Result<Response, ClientError> {
        self.send(req)
    }

    fn send(&self, req: RequestBuilder) -> Result<Response, ClientError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().map_err(|e| ClientError::Unreachable {
            server: self.base.clone(),
            reason: short_reason(&e),
        })?;
        let status = resp.status().as_u16();
        if status == 401 {
            return Err(ClientError::Unauthorized {
                server: self.base.clone(),
            });
        }
        if resp.status().is_success() {
            return Ok(resp);
        }
        let body = resp.bytes().unwrap_or_default();
        match serde_json::from_slice::<ProblemDetail>(&body) {
            Ok(p) => Err(ClientError::Problem(Box::new(p))),
            Err(_) => Err(ClientError::Unexpected {
                status,
                body: String::from_utf8_lossy(&body).chars().take(200).collect(),
            }),
        }
    }

    fn decode<T: DeserializeOwned>(&self, resp: Response) -> Result<T, ClientError> {
        let status = resp.status().as_u16();
        let body = resp.bytes().map_err(|e| ClientError::Unreachable {
            server: self.base.clone(),
            reason: short_reason(&e),
        })?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Unexpected {
            status,
            body: format!(
                "{e}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ),
        })
    }

    /// `GET path` and decode the JSON answer.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.send(self.http.get(format!("{}{path}", self.base)))?;
        self.decode(resp)
    }

    /// `GET path` with its own deadline instead of the client's, for a call
    /// the server may take long to answer (a site export pulling images).
    pub fn get_within<T: DeserializeOwned>(
        &self,
        path: &str,
        timeout: std::time::Duration,
    ) -> Result<T, ClientError> {
        let req = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(timeout);
        let resp = self.send(req)?;
        self.decode(resp)
    }

    /// `GET path`, the body as text (metrics).
    pub fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let resp = self.send(self.http.get(format!("{}{path}", self.base)))?;
        resp.text().map_err(|e| ClientError::Unreachable {
            server: self.base.clone(),
            reason: short_reason(&e),
        })
    }

    /// `GET path`, the raw body (at most `limit` bytes) and the answer's headers.
    pub fn get_bytes(
        &self,
        path: &str,
        limit: u64,
    ) -> Result<(reqwest::header::HeaderMap, Vec<u8>), ClientError> {
        use std::io::Read as _;
        let resp = self.send(self.http.get(format!("{}{path}", self.base)))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        resp.take(limit.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| ClientError::Unreachable {
                server: self.base.clone(),
                reason: e.to_string(),
            })?;
        if body.len() as u64 > limit {
            return Err(ClientError::Unexpected {
                status,
                body: format!("the answer is larger than the {limit} bytes expected"),
            });
        }
        Ok((headers, body))
    }

    /// `POST path` with a JSON body.
    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let resp = self.send(self.http.post(format!("{}{path}", self.base)).json(body))?;
        self.decode(resp)
    }

    /// `POST path` with raw bytes.
    pub fn post_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<T, ClientError> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(bytes);
        let resp = self.send(req)?;
        self.decode(resp)
    }

    /// `PUT path` with a JSON body.
    pub fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let resp = self.send(self.http.put(format!("{}{path}", self.base)).json(body))?;
        self.decode(resp)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.send(self.http.delete(format!("{}{path}", self.base)))?;
        Ok(())
    }

    /// `DELETE path`, reading the JSON answer.
    pub fn delete_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.send(self.http.delete(format!("{}{path}", self.base)))?;
        self.decode(resp)
    }
}

fn short_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    if e.is_connect() {
        return "connection refused or host unreachable".into();
    }
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}
