//! An independent Margo fleet manager: `tests/wfm/wfm.py`, written in Python
//! from the rc.3 specification alone (standard library and `cryptography`),
//! run as a process on loopback, port 0. It mints its own trust domain and
//! the credentials of one edge node, serves one `process` deployment, checks
//! what the node sends against the rc.3 schema rules, answers refusals when
//! told to, and records every request; the scenario `foreign` reads that
//! record. Dropping a [`Wfm`] kills the process.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::co::{Daemon, repo_root};

/// The Python the kit runs (Debian's, where `python3-cryptography` is).
pub const PYTHON: &str = "/usr/bin/python3";

/// A running `wfm.py`.
pub struct Wfm {
    /// Its folder: identities, `requests.jsonl`, `desired.json`.
    pub dir: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    daemon: Daemon,
}

/// One request as the WFM recorded it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Seconds on the WFM's monotonic clock when it arrived.
    pub t: f64,
    /// `GET`, `PUT`, `POST`.
    pub method: String,
    /// The path asked for.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// The whole record (headers, body, the WFM's rc.3 findings).
    pub raw: Value,
}

impl Wfm {
    /// Start `wfm.py --dir DIR --program PROGRAM` with `extra` arguments
    /// (`--extras`, `--manifest-answers …`, `--status-answers …`).
    ///
    /// # Panics
    /// When it does not start.
    #[must_use]
    pub fn start(dir: &Path, program: &Path, extra: &[&str]) -> Wfm {
        let mut cmd = Command::new(PYTHON);
        cmd.arg(repo_root().join("tests/wfm/wfm.py"))
            .arg("--dir")
            .arg(dir)
            .arg("--program")
            .arg(program)
            .args(extra);
        let (daemon, url) = Daemon::spawn(cmd, "wfm listening on ");
        Wfm {
            dir: dir.to_path_buf(),
            url,
            daemon,
        }
    }

    /// The node's credentials folder it wrote.
    #[must_use]
    pub fn credentials(&self) -> PathBuf {
        self.dir.join("node")
    }

    /// What it serves (`deploymentId`, `manifestVersion`, `etag`).
    ///
    /// # Panics
    /// When the file does not read.
    #[must_use]
    pub fn desired(&self) -> Value {
        let text = std::fs::read(self.dir.join("desired.json"))
            .unwrap_or_else(|e| panic!("cannot read desired.json: {e}"));
        serde_json::from_slice(&text).unwrap_or_else(|e| panic!("desired.json: {e}"))
    }

    /// Every request so far, in order of arrival.
    ///
    /// # Panics
    /// When the record does not read.
    #[must_use]
    pub fn requests(&self) -> Vec<Request> {
        let text = std::fs::read_to_string(self.dir.join("requests.jsonl")).unwrap_or_default();
        let mut out: Vec<Request> = text
            .lines()
            // A line being written is left for the next look.
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|raw| Request {
                t: raw["t"].as_f64().unwrap_or_default(),
                method: raw["method"].as_str().unwrap_or_default().to_owned(),
                path: raw["path"].as_str().unwrap_or_default().to_owned(),
                status: raw["status"]
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or_default(),
                raw,
            })
            .collect();
        out.sort_by(|a, b| a.t.total_cmp(&b.t));
        out
    }

    /// What it wrote to stderr (one line per request, and failures).
    #[must_use]
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}
