//! A real `edged --mode lo` process on 127.0.0.1 port 0, and a Margo client
//! that speaks to an LO or to the CO's south listener with an identity from
//! `edgectl co enroll`, returning raw responses so tests can check the exact
//! bytes, headers and problem types the Margo spec asks for.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use edge_api::mtls::Identity;

use crate::co::{Daemon, bin};

/// A running local orchestrator.
pub struct Lo {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The data directory.
    pub data: PathBuf,
    daemon: Daemon,
}

impl Lo {
    /// Start `edged --mode lo --credentials CREDS --data DATA --listen 127.0.0.1:0`
    /// with `extra` arguments.
    ///
    /// # Panics
    /// When the daemon does not report ready.
    #[must_use]
    pub fn start(creds: &Path, data: &Path, extra: &[&str]) -> Lo {
        Self::start_with(creds, data, extra, &bin("edged"))
    }

    /// As [`Lo::start`], with a given `edged` binary.
    ///
    /// # Panics
    /// When the daemon does not report ready.
    #[must_use]
    pub fn start_with(creds: &Path, data: &Path, extra: &[&str], edged: &Path) -> Lo {
        Self::start_command(Command::new(edged), creds, data, extra)
    }

    /// As [`Lo::start`], with environment variables (such as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`).
    ///
    /// # Panics
    /// When the daemon does not report ready.
    #[must_use]
    pub fn start_with_env(creds: &Path, data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Lo {
        let mut cmd = Command::new(bin("edged"));
        cmd.envs(env.iter().copied());
        Self::start_command(cmd, creds, data, extra)
    }

    fn start_command(mut cmd: Command, creds: &Path, data: &Path, extra: &[&str]) -> Lo {
        cmd.args(["--mode", "lo", "--credentials"])
            .arg(creds)
            .arg("--data")
            .arg(data)
            .args(if extra.contains(&"--listen") {
                &[][..]
            } else {
                &["--listen", "127.0.0.1:0"][..]
            })
            .args(extra);
        let (daemon, rest) = Daemon::spawn(cmd, "edged lo listening on ");
        let url = rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        Lo {
            url,
            data: data.to_path_buf(),
            daemon,
        }
    }

    /// The port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// The daemon's process id.
    ///
    /// # Panics
    /// When it is no longer running.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.daemon.pid().expect("the LO runs")
    }

    /// What the daemon wrote to stderr so far.
    #[must_use]
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// Send SIGTERM and wait (up to 30 s) for the exit status.
    ///
    /// # Panics
    /// When the daemon does not exit in time.
    #[must_use]
    pub fn stop(self) -> std::process::ExitStatus {
        self.daemon.stop()
    }

    /// SIGKILL and wait.
    pub fn kill(self) {
        self.daemon.kill();
    }
}

/// A raw response.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Exact body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not).
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The Margo problem type's last segment (`not-authorized`), or the whole `type`.
    #[must_use]
    pub fn problem(&self) -> String {
        let t = self.json()["type"].as_str().unwrap_or_default().to_owned();
        t.rsplit('#').next().unwrap_or_default().to_owned()
    }
}

/// A Margo client (an edge node, as far as the server can tell).
pub struct Margo {
    base: String,
    client: reqwest::blocking::Client,
}

impl Margo {
    /// A client for `base` (`https://…`) with the identity in `creds`,
    /// expecting the server to be `…/margo/wfm/<server>`.
    ///
    /// # Panics
    /// When the credentials do not load.
    #[must_use]
    pub fn new(creds: &Path, base: &str, server: &str) -> Margo {
        let id = Identity::load(creds).unwrap_or_else(|e| panic!("{e}"));
        let client = id
            .blocking_client(&id.wfm_id(server), Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}"));
        Margo {
            base: base.trim_end_matches('/').to_owned(),
            client,
        }
    }

    /// Send a request; `Err` only when no HTTP answer came (TLS refused, connection failed).
    ///
    /// # Errors
    /// When the request could not be made.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = resp.bytes().map_err(|e| e.to_string())?.to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// GET with headers.
    ///
    /// # Panics
    /// When no HTTP answer came.
    #[must_use]
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers, None)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// A request with a JSON body.
    ///
    /// # Panics
    /// When no HTTP answer came.
    #[must_use]
    pub fn json(&self, method: &str, path: &str, body: &serde_json::Value) -> Reply {
        self.send(method, path, &[], Some(body.to_string().into_bytes()))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }
}
