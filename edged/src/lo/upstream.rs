//! The LO as a pull-through registry for its site: a registry reference
//! (`oci://host/name:tag`) that one of a device's deployments names and
//! that the LO holds no copy of (no site stick carried it) is fetched from
//! its registry once, on the device's first request ([`Upstream::pull`]),
//! and then served like what a stick carried. Who may cause a fetch is
//! decided by the caller: the registry's catalog asks only for the
//! references the asking device's own deployments name, so the LO is no
//! open proxy.
//!
//! A fetch reads the manifest first (an image's, resolved to this host's
//! platform, or a module's or binary's one layer), bounded, and refuses an
//! image larger than the whole cache; then each blob is downloaded into the
//! artifact store, bounded by its declared size and verified against its
//! digest before it becomes visible. Concurrent requests for one reference
//! (or for one blob of two images) wait for the one fetch under way.
//! What was pulled is recorded in `DATA/pulled.json` (reference → manifest
//! or module digest, its blobs, bytes, last use), beside the stick's
//! `pins.json`, which it never overrides; when the recorded bytes pass
//! `--pull-cache-max-bytes` the least recently used references are dropped
//! with their blobs (never one a stick carried or another reference uses).
//!
//! Credentials for upstream registries are in `DATA/registries.toml`
//! ([`read_auth`]): a user name and password, or a bearer token, per
//! registry; the file must be readable by its owner only, and no credential
//! is ever logged or sent to another registry.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use edge_model::Digest;
use edge_workspace::oci::{Blob, BlobSource, Credential, OciError, Registries};
use serde::{Deserialize, Serialize};

use crate::cas::{Cas, CasError, MAX_ARTIFACT};
use crate::error::ApiError;
use crate::south::backend::Held;

/// The credentials file in the LO's data folder.
pub(crate) const AUTH_FILE: &str = "registries.toml";
/// The record of what was pulled through, in the LO's data folder.
const RECORD: &str = "pulled.json";
/// Largest credentials file or record read.
const MAX_FILE: u64 = 4 * 1024 * 1024;
/// Most registries in the credentials file.
const MAX_REGISTRIES: usize = 256;
/// Longest user name, password or token.
const MAX_SECRET: usize = 8 * 1024;
/// The record's format.
const FORMAT: u32 = 1;

/// `registries.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    #[serde(default)]
    registry: BTreeMap<String, AuthEntry>,
}

/// One registry's credential as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthEntry {
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
}

impl std::fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

/// The credentials for upstream registries in `DATA/registries.toml`
/// (none when it is missing):
///
/// ```toml
/// [registry."registry.example.com:5000"]
/// username = "edge"
/// password = "…"
///
/// [registry."ghcr.io"]
/// token = "…"
/// ```
///
/// # Errors
/// When the file is readable by others than its owner, too large, or does
/// not read; the message names the line, never a value.
pub(crate) fn read_auth(data: &Path) -> anyhow::Result<BTreeMap<String, Credential>> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = data.join(AUTH_FILE);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    let mode = meta.permissions().mode() & 0o777;
    anyhow::ensure!(
        mode & 0o077 == 0,
        "`{}` holds registry credentials but is readable by others (mode {mode:o}); run `chmod 600` on it",
        path.display()
    );
    anyhow::ensure!(
        meta.len() <= MAX_FILE,
        "`{}` is larger than {MAX_FILE} bytes",
        path.display()
    );
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    parse_auth(&text).map_err(|e| anyhow::anyhow!("`{}` does not read: {e}", path.display()))
}

/// The credentials in `text`, or why they do not read (never quoting a
/// value).
fn parse_auth(text: &str) -> Result<BTreeMap<String, Credential>, String> {
    let file: AuthFile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        match line {
            Some(l) => format!("line {l}: {}", e.message()),
            None => e.message().to_owned(),
        }
    })?;
    if file.registry.len() > MAX_REGISTRIES {
        return Err(format!("it names more than {MAX_REGISTRIES} registries"));
    }
    let mut out = BTreeMap::new();
    for (host, entry) in file.registry {
        if host.is_empty()
            || host.len() > 255
            || host.contains('/')
            || host.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "`{}` is not a registry host (`host` or `host:port`)",
                host.chars().take(255).collect::<String>()
            ));
        }
        let long = [&entry.username, &entry.password, &entry.token]
            .into_iter()
            .flatten()
            .any(|s| s.len() > MAX_SECRET || s.is_empty());
        if long {
            return Err(format!(
                "a credential of `{host}` is empty or longer than {MAX_SECRET} bytes"
            ));
        }
        let credential = match entry {
            AuthEntry {
                username: Some(username),
                password: Some(password),
                token: None,
            } => Credential::Basic { username, password },
            AuthEntry {
                username: None,
                password: None,
                token: Some(token),
            } => Credential::Bearer(token),
            _ => {
                return Err(format!(
                    "`{host}` needs either `username` and `password`, or `token` alone"
                ));
            }
        };
        out.insert(host, credential);
    }
    Ok(out)
}

/// What was pulled for one reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Pulled {
    /// The image manifest's digest, or the module's or binary's.
    digest: String,
    /// Its size.
    size: u64,
    /// Its media type.
    media_type: String,
    /// An image's config and layers.
    #[serde(default)]
    blobs: Vec<String>,
    /// Everything it keeps in the store, manifest and blobs.
    bytes: u64,
    /// When it was last asked for, milliseconds since the epoch.
    used: u64,
}

/// `pulled.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Record {
    format: u32,
    pulled: BTreeMap<String, Pulled>,
}

/// References answered from what was pulled before (`/metrics`).
pub(crate) static HITS: crate::prom::Counter = crate::prom::Counter::new();
/// References fetched from their registry.
pub(crate) static PULLS: crate::prom::Counter = crate::prom::Counter::new();
/// Fetches that failed (the registry refused or failed, or a bound).
pub(crate) static FAILURES: crate::prom::Counter = crate::prom::Counter::new();
/// Bytes fetched from upstream registries.
pub(crate) static PULLED_BYTES: crate::prom::Counter = crate::prom::Counter::new();
/// References dropped to keep `--pull-cache-max-bytes`.
pub(crate) static EVICTIONS: crate::prom::Counter = crate::prom::Counter::new();

/// The pull-through side of the LO's registry.
pub(crate) struct Upstream {
    registries: Registries,
    data: PathBuf,
    cas: Cas,
    max_bytes: u64,
    record: Mutex<Record>,
    /// One lock per reference or blob being fetched.
    fetching: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Upstream {
    /// The pull-through state at LO data folder `data`, reaching registries
    /// as `registries` says and keeping at most `max_bytes`. A record that
    /// does not read is started afresh (what it named is fetched again).
    pub(crate) fn open(data: &Path, registries: Registries, max_bytes: u64, cas: Cas) -> Self {
        let path = data.join(RECORD);
        let record = match std::fs::metadata(&path) {
            Ok(m) if m.len() <= MAX_FILE => std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
                .filter(|r| r.format == FORMAT)
                .unwrap_or_else(|| {
                    tracing::warn!(path = %path.display(), "the pull-through record does not read; starting afresh");
                    Record::default()
                }),
            _ => Record::default(),
        };
        Self {
            registries,
            data: data.to_owned(),
            cas,
            max_bytes,
            record: Mutex::new(record),
            fetching: Mutex::new(HashMap::new()),
        }
    }

    /// Bytes the recorded pulls keep in the store now.
    pub(crate) fn kept_bytes(&self) -> u64 {
        self.record().pulled.values().map(|p| p.bytes).sum()
    }

    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What was pulled for `reference` and is whole in the store (its use
    /// noted).
    pub(crate) fn held(&self, reference: &str) -> Option<Held> {
        let mut record = self.record();
        let p = record.pulled.get_mut(reference)?;
        let whole = std::iter::once(&p.digest)
            .chain(&p.blobs)
            .all(|d| Digest::new(d).ok().and_then(|d| self.cas.get(&d)).is_some());
        if !whole {
            return None;
        }
        p.used = now_ms();
        Some(Held {
            digest: Digest::new(&p.digest).ok()?,
            size: p.size,
            media_type: p.media_type.clone(),
        })
    }

    /// Run `f` holding the lock of `key`, so one fetch of it runs at a time.
    fn one_at_a_time<T>(&self, key: &str, f: impl FnOnce() -> T) -> T {
        let lock = {
            let mut map = self
                .fetching
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(key.to_owned()).or_default().clone()
        };
        let out = {
            let _held = lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f()
        };
        let mut map = self
            .fetching
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Clones are only made under the map's lock: two left means nobody
        // else waits for it.
        if Arc::strong_count(&lock) <= 2 {
            map.remove(key);
        }
        out
    }

    /// Fetch `reference` (`oci://…`) from its registry into the store,
    /// record it and answer what is held for it: an image (`image`: its
    /// manifest, config and layers) or a module or binary (its one layer).
    /// Concurrent calls for one reference wait for one fetch.
    ///
    /// # Errors
    /// The registry fails or refuses, the artifact is over a bound or not
    /// what its manifest says: a message naming the reference and why.
    pub(crate) fn pull(&self, reference: &str, image: bool) -> Result<Held, ApiError> {
        self.one_at_a_time(reference, || {
            if let Some(held) = self.held(reference) {
                HITS.add(1);
                return Ok(held);
            }
            let started = std::time::Instant::now();
            let pulled = self.fetch(reference, image).map_err(|e| {
                FAILURES.add(1);
                e.api(reference)
            })?;
            PULLS.add(1);
            PULLED_BYTES.add(pulled.bytes);
            tracing::info!(
                reference,
                digest = pulled.digest,
                bytes = pulled.bytes,
                ms = started.elapsed().as_millis() as u64,
                "pulled through from its registry for the site"
            );
            let held = Held {
                digest: Digest::new(&pulled.digest)
                    .map_err(|e| ApiError::upstream(format!("`{reference}`: {e}")))?,
                size: pulled.size,
                media_type: pulled.media_type.clone(),
            };
            let mut record = self.record();
            record.format = FORMAT;
            record.pulled.insert(reference.to_owned(), pulled);
            self.evict(&mut record, reference);
            self.write(&record)
                .map_err(|e| ApiError::internal(&e.context("writing the pull-through record")))?;
            Ok(held)
        })
    }

    /// Download what `reference` names.
    fn fetch(&self, reference: &str, image: bool) -> Result<Pulled, Failure> {
        let source = BlobSource::new(reference, &self.registries)?;
        if image {
            let got = source.resolve_image(MAX_ARTIFACT)?;
            let bytes = got.manifest.len() as u64 + got.parts.iter().map(|b| b.size).sum::<u64>();
            if bytes > self.max_bytes {
                return Err(Failure::TooLarge(bytes, self.max_bytes));
            }
            for blob in &got.parts {
                self.fill(&source, blob, reference)?;
            }
            let digest = self.cas.put(&got.manifest)?;
            Ok(Pulled {
                digest: digest.to_string(),
                size: got.manifest.len() as u64,
                media_type: got.media_type,
                blobs: got.parts.into_iter().map(|b| b.digest).collect(),
                bytes,
                used: now_ms(),
            })
        } else {
            let blob = source.resolve(MAX_ARTIFACT)?;
            if blob.size > self.max_bytes {
                return Err(Failure::TooLarge(blob.size, self.max_bytes));
            }
            self.fill(&source, &blob, reference)?;
            Ok(Pulled {
                digest: blob.digest,
                size: blob.size,
                media_type: blob.media_type,
                blobs: Vec::new(),
                bytes: blob.size,
                used: now_ms(),
            })
        }
    }

    /// One blob into the store: at most its declared size, verified; one
    /// download of a blob at a time.
    fn fill(&self, source: &BlobSource, blob: &Blob, reference: &str) -> Result<(), Failure> {
        let digest = Digest::new(&blob.digest).map_err(|e| Failure::Bad(e.to_string()))?;
        self.one_at_a_time(digest.as_str(), || {
            self.cas.fill(&digest, blob.size, reference, |have| {
                let (start, reader) = source
                    .open(blob, have)
                    .map_err(|e| CasError::source(reference, e))?;
                Ok((start, Box::new(reader) as Box<dyn std::io::Read>))
            })
        })?;
        Ok(())
    }

    /// Drop the least recently used references (never `keep`) while the
    /// record's bytes pass the bound, and the blobs nothing else uses.
    fn evict(&self, record: &mut Record, keep: &str) {
        let total = |r: &Record| r.pulled.values().map(|p| p.bytes).sum::<u64>();
        let mut dropped = Vec::new();
        while total(record) > self.max_bytes {
            let Some(oldest) = record
                .pulled
                .iter()
                .filter(|(r, _)| r.as_str() != keep)
                .min_by_key(|(_, p)| p.used)
                .map(|(r, _)| r.clone())
            else {
                break;
            };
            if let Some(p) = record.pulled.remove(&oldest) {
                tracing::info!(
                    reference = oldest,
                    bytes = p.bytes,
                    "dropped from the pull-through cache (least recently used)"
                );
                dropped.push(p);
                EVICTIONS.add(1);
            }
        }
        if dropped.is_empty() {
            return;
        }
        let mut used: BTreeSet<String> = record
            .pulled
            .values()
            .flat_map(|p| std::iter::once(p.digest.clone()).chain(p.blobs.iter().cloned()))
            .collect();
        used.extend(self.stick_digests());
        for d in dropped
            .iter()
            .flat_map(|p| std::iter::once(&p.digest).chain(&p.blobs))
        {
            if used.contains(d) {
                continue;
            }
            if let Some(path) = Digest::new(d).ok().and_then(|d| self.cas.get(&d)) {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// What the site sticks' pins hold: their artifacts and, for an image,
    /// its blobs.
    fn stick_digests(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let Ok(pins) = edge_workspace::stick::read_pins(&self.data) else {
            return out;
        };
        for pin in pins.pins.into_values() {
            let blobs = Digest::new(&pin.digest)
                .ok()
                .filter(|_| edge_workspace::image::is_manifest_type(&pin.media_type))
                .and_then(|d| self.cas.get(&d))
                .and_then(|p| std::fs::read(p).ok())
                .and_then(|b| edge_workspace::image::parse_manifest(&b, MAX_ARTIFACT).ok());
            if let Some(m) = blobs {
                out.extend(m.parts().map(|b| b.digest.clone()));
            }
            out.insert(pin.digest);
        }
        out
    }

    /// Write the record (a new file renamed over the old one).
    fn write(&self, record: &Record) -> anyhow::Result<()> {
        let path = self.data.join(RECORD);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(record)?)
            .with_context(|| format!("cannot write `{}`", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write `{}`", path.display()))
    }
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Registry(#[from] OciError),
    #[error(transparent)]
    Store(#[from] CasError),
    #[error(
        "it is {0} bytes, more than the {1} bytes the LO keeps of what it pulls through (--pull-cache-max-bytes)"
    )]
    TooLarge(u64, u64),
    #[error("{0}")]
    Bad(String),
}

impl Failure {
    /// The answer for a device: 404 when the registry has no such thing,
    /// 503 when it cannot be reached (worth retrying), 502 otherwise.
    fn api(self, reference: &str) -> ApiError {
        let text = format!(
            "this LO holds no copy of `{}` and could not pull it from its registry: {self}",
            reference.trim_start_matches("oci://")
        );
        tracing::warn!(reference, error = %self, "pull-through failed");
        match self {
            Self::Registry(OciError::NotFound { .. }) => ApiError::not_found(text),
            Self::Registry(OciError::Unreachable { .. }) | Self::Store(CasError::Source { .. }) => {
                ApiError::unavailable(text, 30)
            }
            Self::Store(CasError::Io { .. }) => ApiError::internal(&anyhow::anyhow!(text)),
            _ => ApiError::upstream(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_read_per_registry_and_never_quote_a_value() {
        let got = parse_auth(
            r#"
[registry."127.0.0.1:5000"]
username = "edge"
password = "s3cret"

[registry."ghcr.io"]
token = "tok"
"#,
        )
        .unwrap();
        assert_eq!(
            got["127.0.0.1:5000"],
            Credential::Basic {
                username: "edge".into(),
                password: "s3cret".into()
            }
        );
        assert_eq!(got["ghcr.io"], Credential::Bearer("tok".into()));
        assert!(!format!("{got:?}").contains("s3cret"));
        assert!(!format!("{got:?}").contains("tok\""));
        for (bad, says) in [
            ("[registry.\"h\"]\nusername = \"u\"\n", "either"),
            (
                "[registry.\"h\"]\nusername = \"u\"\npassword = \"p\"\ntoken = \"t\"\n",
                "either",
            ),
            ("[registry.\"a/b\"]\ntoken = \"t\"\n", "not a registry host"),
            ("[registry.\"h\"]\ntoken = \"\"\n", "empty"),
            (
                "[registry.\"h\"]\ntoken = \"t\"\nmore = \"hunter2\"\n",
                "line 3",
            ),
            ("[registry.\"h\"]\npassword = hunter2\n", "line 2"),
        ] {
            let e = parse_auth(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn a_credentials_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        assert!(read_auth(dir.path()).unwrap().is_empty());
        let path = dir.path().join(AUTH_FILE);
        std::fs::write(&path, "[registry.\"h\"]\ntoken = \"t\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_auth(dir.path()).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_auth(dir.path()).unwrap().len(), 1);
    }

    fn pulled(digest: &Digest, bytes: u64, used: u64) -> Pulled {
        Pulled {
            digest: digest.to_string(),
            size: bytes,
            media_type: "application/octet-stream".into(),
            blobs: Vec::new(),
            bytes,
            used,
        }
    }

    #[test]
    fn past_the_bound_the_least_recently_used_go_with_their_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::in_data(dir.path()).unwrap();
        let up = Upstream::open(dir.path(), Registries::default(), 10, cas.clone());
        let (a, b, c) = (
            cas.put(b"aaaa").unwrap(),
            cas.put(b"bbbb").unwrap(),
            cas.put(b"cccc").unwrap(),
        );
        let mut record = Record::default();
        record.pulled.insert("oci://h/a:1".into(), pulled(&a, 4, 1));
        record.pulled.insert("oci://h/b:1".into(), pulled(&b, 4, 3));
        record.pulled.insert("oci://h/c:1".into(), pulled(&c, 4, 2));
        // 12 bytes over a bound of 10: the oldest (a) goes, c was just pulled.
        up.evict(&mut record, "oci://h/c:1");
        assert_eq!(
            record.pulled.keys().collect::<Vec<_>>(),
            ["oci://h/b:1", "oci://h/c:1"]
        );
        assert!(cas.get(&a).is_none());
        assert!(cas.get(&b).is_some() && cas.get(&c).is_some());
        // A reference alone over the bound is kept (the fetch refuses those).
        let mut one = Record::default();
        one.pulled.insert("oci://h/c:1".into(), pulled(&c, 40, 2));
        up.evict(&mut one, "oci://h/c:1");
        assert_eq!(one.pulled.len(), 1);
    }
}
