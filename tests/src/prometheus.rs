//! Debian's `prometheus` on loopback for tests: [`Prometheus::start`] runs it
//! with the scrape configuration given (every second), storage in a fresh
//! temporary folder and the web listener on `127.0.0.1:0`, and returns once
//! its log names the port the kernel gave; [`Prometheus::query`] asks its
//! HTTP API for an instant vector. Dropping it kills and reaps the process
//! and deletes its folder.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait::within;

/// The Debian package's binary.
const BINARY: &str = "/usr/bin/prometheus";

/// A running Prometheus server.
#[derive(Debug)]
pub struct Prometheus {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Start it with `scrape_configs` (the YAML list's items, indented as
    /// list items at the top level of `scrape_configs:`).
    ///
    /// # Panics
    /// When it does not start and name its port within 60 seconds.
    #[must_use]
    pub fn start(scrape_configs: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{scrape_configs}"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let log = dir.path().join("prometheus.log");
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BINARY} (apt-get install prometheus): {e}"));
        let mut p = Prometheus {
            url: String::new(),
            child,
            dir,
        };
        let addr = within(Duration::from_secs(60), Duration::from_millis(20), || {
            let text = std::fs::read_to_string(&log).ok()?;
            text.lines()
                .filter(|l| l.contains("msg=\"Listening on\""))
                .find_map(|l| l.split("address=").nth(1))
                .map(|a| a.trim().to_owned())
        });
        match addr {
            Some(a) => p.url = format!("http://{a}"),
            None => panic!("prometheus did not start:\n{}", p.log()),
        }
        p
    }

    /// What it logged.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Whether Prometheus takes `query` as valid PromQL.
    ///
    /// # Panics
    /// When the API does not answer.
    #[must_use]
    pub fn valid(&self, query: &str) -> bool {
        self.ask(query)["status"] == "success"
    }

    fn ask(&self, query: &str) -> serde_json::Value {
        let encoded: String = query
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let url = format!("{}/api/v1/query?query={encoded}", self.url);
        reqwest::blocking::Client::new()
            .get(url)
            .send()
            .and_then(reqwest::blocking::Response::json)
            .unwrap_or_else(|e| panic!("prometheus query {query}: {e}"))
    }

    /// The value of the first sample `query` gives now, if any.
    ///
    /// # Panics
    /// When the API does not answer.
    #[must_use]
    pub fn query(&self, query: &str) -> Option<f64> {
        self.ask(query)["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
