//! Simulated edge nodes, many in one process: each with its own enrolled
//! identity and its own mTLS client, speaking the Margo API to its site's LO
//! as `edged --mode en` does — capabilities, the state manifest by long poll
//! with `If-None-Match`, each deployment fetched by digest and checked,
//! status reports with `adoptedManifestVersion` — over a runtime that does
//! nothing: `installing`, then `installed` after a set delay (or `failed`).
//! The fleet benchmark runs thousands of them; the fault tests a hundred.
//!
//! What the nodes see is counted in [`Counters`]: reports the LO took,
//! manifests answered with a body and with `304`, nodes waiting in a long
//! poll right now.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use edge_api::mtls::Identity;
use serde_json::Value;

use crate::fleet::{caps_doc, status_doc};

/// What every node of a fleet has seen, summed.
#[derive(Debug, Default)]
pub struct Counters {
    /// Status reports an LO answered with 2xx.
    pub reports: AtomicU64,
    /// Manifests answered with a body (200).
    pub manifests: AtomicU64,
    /// Long polls answered `304 Not Modified`.
    pub not_modified: AtomicU64,
    /// Nodes in a long poll right now (each holds its connection).
    pub polling: AtomicI64,
    /// Deployment documents fetched and checked against their digest.
    pub documents: AtomicU64,
}

/// One simulated node.
#[derive(Debug, Clone)]
pub struct SimNode {
    /// Its device id.
    pub device: String,
    /// Its site (the LO's SPIFFE id is derived from it).
    pub site: String,
    /// The LO's base URL.
    pub base: String,
    /// Its credentials folder (`edgectl co enroll --out`).
    pub creds: PathBuf,
    /// From `installing` to the end state.
    pub install: Duration,
    /// Report `failed` instead of `installed`.
    pub fails: bool,
    /// Shared by the fleet.
    pub counters: Arc<Counters>,
}

impl SimNode {
    /// Run until `burst` closes; each value sent on it asks for that many
    /// `installed` reports of every deployment the node runs, at once.
    pub async fn run(self, mut burst: tokio::sync::watch::Receiver<u32>) {
        let id = Identity::load(&self.creds).unwrap_or_else(|e| panic!("{e}"));
        let config = id
            .client_config(&id.wfm_id(&self.site))
            .unwrap_or_else(|e| panic!("{e}"));
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .timeout(Duration::from_secs(90))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let caps = format!("{}/api/v1/capabilities/{}", self.base, self.device);
        send(http.put(&caps).json(&caps_doc(&self.device))).await;
        let mut etag = String::new();
        let mut known: HashMap<String, String> = HashMap::new();
        let mut version = 0;
        loop {
            tokio::select! {
                r = burst.changed() => {
                    if r.is_err() { return; }
                    let n = *burst.borrow_and_update();
                    for _ in 0..n {
                        for d in known.keys() {
                            self.status(&http, d, "installed", version).await;
                        }
                    }
                }
                m = self.poll(&http, &etag) => {
                    let Some((tag, manifest)) = m else { continue };
                    etag = tag;
                    version = manifest["manifestVersion"].as_u64().unwrap_or(0);
                    self.adopt(&http, &manifest, &mut known, version).await;
                }
            }
        }
    }

    /// Install what `manifest` lists and the node does not run yet.
    async fn adopt(
        &self,
        http: &reqwest::Client,
        manifest: &Value,
        known: &mut HashMap<String, String>,
        version: u64,
    ) {
        let listed: HashSet<String> = manifest["deployments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["deploymentId"].as_str().map(str::to_owned))
            .collect();
        known.retain(|d, _| listed.contains(d));
        for d in manifest["deployments"].as_array().into_iter().flatten() {
            let (Some(dep), Some(digest), Some(url)) = (
                d["deploymentId"].as_str(),
                d["digest"].as_str(),
                d["url"].as_str(),
            ) else {
                continue;
            };
            if known.get(dep).map(String::as_str) == Some(digest) {
                continue;
            }
            let bytes = fetch(http, &format!("{}{url}", self.base)).await;
            let got = edge_model::digest::sha256(&bytes);
            assert_eq!(got.as_str(), digest, "digest of {dep}");
            self.counters.documents.fetch_add(1, Ordering::Relaxed);
            self.status(http, dep, "installing", version).await;
            tokio::time::sleep(self.install).await;
            let end = if self.fails { "failed" } else { "installed" };
            self.status(http, dep, end, version).await;
            known.insert(dep.to_owned(), digest.to_owned());
        }
    }

    /// The manifest by long poll: `(etag, manifest)` when it changed.
    async fn poll(&self, http: &reqwest::Client, etag: &str) -> Option<(String, Value)> {
        let mut req = http
            .get(format!("{}/api/v1/deployments", self.base))
            .header("prefer", "wait=30")
            .header("accept", "application/vnd.margo.manifest.v1+json");
        if !etag.is_empty() {
            req = req.header("if-none-match", etag);
        }
        self.counters.polling.fetch_add(1, Ordering::Relaxed);
        let r = req.send().await;
        self.counters.polling.fetch_sub(1, Ordering::Relaxed);
        let Ok(r) = r else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            return None;
        };
        match r.status().as_u16() {
            200 => {}
            304 => {
                self.counters.not_modified.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            _ => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                return None;
            }
        }
        let tag = r.headers().get("etag")?.to_str().ok()?.to_owned();
        let manifest: Value = r.json().await.ok()?;
        self.counters.manifests.fetch_add(1, Ordering::Relaxed);
        Some((tag, manifest))
    }

    async fn status(&self, http: &reqwest::Client, deployment: &str, state: &str, version: u64) {
        let url = format!("{}/api/v1/deployments/{deployment}/status", self.base);
        send(
            http.post(&url)
                .json(&status_doc(deployment, state, version)),
        )
        .await;
        self.counters.reports.fetch_add(1, Ordering::Relaxed);
    }
}

/// Send until the server takes it (2xx), backing off on 503 and on a lost
/// connection.
async fn send(req: reqwest::RequestBuilder) {
    for _ in 0..100 {
        let Some(r) = req.try_clone() else { return };
        match r.send().await {
            Ok(resp) if resp.status().is_success() => return,
            Ok(resp) if resp.status().as_u16() != 503 => {
                panic!("{} answered {}", resp.url(), resp.status());
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    panic!("a report was not taken after 100 tries");
}

async fn fetch(http: &reqwest::Client, url: &str) -> Vec<u8> {
    for _ in 0..20 {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
            && let Ok(b) = r.bytes().await
        {
            return b.to_vec();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("cannot fetch {url}");
}
