//! The edge node's operations API: what `edged --mode en` serves on its Unix
//! socket (`DATA/en.sock`, owner only) and `edgectl en …` asks. Plain HTTP/1.1
//! with JSON bodies, one request per connection; [`OpsClient`] is the whole
//! client (a socket this small needs no HTTP library).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The node as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Device id.
    pub device: String,
    /// The fleet manager it polls.
    pub server: String,
    /// Last answer from the fleet manager (RFC 3339), if any since start.
    pub last_heard: Option<String>,
    /// Seconds since then.
    pub last_heard_seconds: Option<u64>,
    /// Why the fleet manager refuses this node's identity (its problem
    /// detail: revoked, expired, not issued by its CA), while it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Since when it refuses it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_since: Option<String>,
    /// The desired manifest version kept.
    pub manifest_version: Option<u64>,
    /// Reports waiting to be sent.
    pub queued_reports: u64,
}

/// One workload (a component of a deployment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRow {
    /// How to name it to `edgectl en`: the deployment name, plus
    /// `/component` when the deployment has several.
    pub workload: String,
    /// Deployment id.
    pub deployment: String,
    /// Application id.
    pub app: String,
    /// Component name.
    pub component: String,
    /// Runtime (`wasm`, `process`, …).
    pub kind: String,
    /// App version the manifest asks for (empty when no longer desired).
    pub desired_version: String,
    /// App version running (empty when nothing runs).
    pub running_version: String,
    /// Margo state.
    pub state: String,
    /// Restarts by the restart policy.
    pub restarts: u32,
    /// Last error, `CODE: message`.
    pub last_error: Option<String>,
    /// Stopped by an operator.
    pub held: bool,
    /// Process id, when it is a process.
    pub pid: Option<u32>,
}

/// Resource use of one workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadMetrics {
    /// The workload.
    pub workload: String,
    /// Margo state.
    pub state: String,
    /// Restarts.
    pub restarts: u32,
    /// Resident memory, bytes (processes).
    pub rss_bytes: Option<u64>,
    /// CPU time used, milliseconds (processes).
    pub cpu_ms: Option<u64>,
    /// Size of its log, bytes.
    pub log_bytes: u64,
}

/// A piece of a workload's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogChunk {
    /// Offset of `text` in the log.
    pub offset: u64,
    /// Offset after it (ask from here to follow).
    pub next: u64,
    /// The log's length when it was read: `next` short of it means more
    /// was there already (absent from an older node: 0).
    #[serde(default)]
    pub end: u64,
    /// The text (lossy UTF-8).
    pub text: String,
}

/// Why an operations request failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// No node answers on the socket.
    #[error(
        "cannot reach the edge node at `{path}` (is `edged --mode en` running with that data directory?)"
    )]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The exchange broke off.
    #[error("the edge node's answer broke off")]
    Io(#[from] std::io::Error),
    /// An error answer.
    #[error("{0}")]
    Refused(String),
    /// An answer that does not read.
    #[error("the edge node sent an answer that does not read: {0}")]
    Invalid(String),
}

/// Largest answer read.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// A client of one node's socket.
#[derive(Debug, Clone)]
pub struct OpsClient {
    path: PathBuf,
}

impl OpsClient {
    /// The socket at `path`.
    #[must_use]
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    fn exchange(&self, method: &str, target: &str) -> Result<Vec<u8>, OpsError> {
        let mut s = UnixStream::connect(&self.path).map_err(|source| OpsError::Connect {
            path: self.path.clone(),
            source,
        })?;
        // Stop and restart wait for a graceful stop; allow for it.
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        write!(
            s,
            "{method} {target} HTTP/1.1\r\nHost: edged\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )?;
        s.flush()?;
        let mut r = BufReader::new(s.take(MAX_ANSWER));
        let mut line = String::new();
        r.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| OpsError::Invalid(line.trim().to_owned()))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse::<usize>().ok();
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = v.trim().eq_ignore_ascii_case("chunked");
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                r.read_line(&mut line)?;
                let n = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| OpsError::Invalid("a bad chunk size".into()))?;
                if n == 0 {
                    break;
                }
                let mut chunk = vec![0; n + 2];
                r.read_exact(&mut chunk)?;
                chunk.truncate(n);
                body.extend_from_slice(&chunk);
            }
        } else if let Some(n) = length {
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        } else {
            r.read_to_end(&mut body)?;
        }
        if status >= 400 {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let detail = v["detail"].as_str().map_or_else(
                || String::from_utf8_lossy(&body).into_owned(),
                str::to_owned,
            );
            return Err(OpsError::Refused(detail));
        }
        Ok(body)
    }

    /// `GET target` as JSON.
    ///
    /// # Errors
    /// When the node cannot be reached, refuses, or answers nonsense.
    pub fn get<T: DeserializeOwned>(&self, target: &str) -> Result<T, OpsError> {
        let body = self.exchange("GET", target)?;
        serde_json::from_slice(&body).map_err(|e| OpsError::Invalid(e.to_string()))
    }

    /// `POST target` (no body) as JSON.
    ///
    /// # Errors
    /// As [`OpsClient::get`].
    pub fn post<T: DeserializeOwned>(&self, target: &str) -> Result<T, OpsError> {
        let body = self.exchange("POST", target)?;
        serde_json::from_slice(&body).map_err(|e| OpsError::Invalid(e.to_string()))
    }
}
