//! The device side of the Margo desired-state API (DIGEST §8.4, §12, §15.2
//! "CLI" MUSTs): poll the state manifest with `If-None-Match`, refuse a
//! manifest whose `manifestVersion` is not greater than the last accepted
//! one, fetch every listed deployment and verify its digest over the exact
//! bytes before anything is used, and keep the accepted version and ETag in
//! a file that survives restarts (written atomically).
//!
//! Nothing here applies anything: [`ManifestSync::poll`] hands back verified
//! documents, and the caller calls [`ManifestSync::accept`] once it has
//! reconciled them. A failed poll changes nothing, and a digest that cannot
//! be fetched is an error, never a removal.

use std::io::Write as _;
use std::path::Path;

use edge_model::manifest::{DesiredStateManifest, MANIFEST_MEDIA_TYPE};
use edge_model::{Digest, MargoDocument as _, digest};
use serde::{Deserialize, Serialize};

use crate::routes;
use crate::south::CallError;

/// Largest manifest or deployment document accepted (the model's limit).
const MAX_BODY: usize = 1024 * 1024;

/// What was last accepted, kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Accepted {
    /// The accepted `manifestVersion`.
    pub version: u64,
    /// The ETag the manifest came with.
    pub etag: String,
}

/// One deployment of a new manifest, its bytes verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Deployment id.
    pub id: String,
    /// Its digest (equal to the SHA-256 of `bytes`).
    pub digest: Digest,
    /// The exact bytes served.
    pub bytes: Vec<u8>,
}

/// A new manifest with every deployment fetched and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewState {
    /// `manifestVersion`.
    pub version: u64,
    /// The manifest's ETag.
    pub etag: String,
    /// Deployments in manifest order.
    pub deployments: Vec<Verified>,
    /// The `traceparent` header the manifest came with, as sent (at most
    /// 64 bytes; the caller validates it): the trace of the change.
    pub traceparent: Option<String>,
}

/// What a poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// 304: nothing new.
    Unchanged,
    /// A newer manifest, verified.
    Changed(NewState),
}

/// Why a poll gave nothing usable; the previous state stays in force.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The server could not be reached or refused.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The manifest is not a valid one (including a digest algorithm other
    /// than sha256).
    #[error("the manifest is invalid: {0}")]
    Invalid(String),
    /// The manifest's version is not greater than the accepted one: a
    /// replay or a rolled-back server (a security event).
    #[error("manifest version {got} is not greater than the accepted {accepted}; refused")]
    NotNewer {
        /// What was served.
        got: u64,
        /// What was accepted before.
        accepted: u64,
    },
    /// A fetched document does not match its digest.
    #[error("`{url}` does not match its digest {expected} (got {got}); refused")]
    DigestMismatch {
        /// What was fetched.
        url: String,
        /// The digest the manifest names.
        expected: String,
        /// The digest of what arrived.
        got: String,
    },
}

/// Check a manifest body against what was accepted before (pure).
///
/// # Errors
/// When it is not a valid manifest or its version is not newer.
pub fn check_manifest(
    body: &[u8],
    accepted: Option<&Accepted>,
) -> Result<DesiredStateManifest, SyncError> {
    let m = DesiredStateManifest::from_slice(body)
        .map_err(|e| SyncError::Invalid(e.to_string()))?
        .document;
    if let Some(a) = accepted
        && m.manifest_version <= a.version
    {
        return Err(SyncError::NotNewer {
            got: m.manifest_version,
            accepted: a.version,
        });
    }
    Ok(m)
}

/// One answer of the fleet manager.
struct Answer {
    status: u16,
    etag: Option<String>,
    body: Vec<u8>,
    held: bool,
    traceparent: Option<String>,
}

/// Polls one fleet manager for one device.
#[derive(Debug)]
pub struct ManifestSync {
    base: String,
    client: reqwest::blocking::Client,
    accepted: Option<Accepted>,
}

impl ManifestSync {
    /// A poller of `base` (`https://host:port`) through `client` (see
    /// `mtls::Identity::blocking_client`), starting from `accepted`.
    #[must_use]
    pub fn new(base: &str, client: reqwest::blocking::Client, accepted: Option<Accepted>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
            accepted,
        }
    }

    /// What was last accepted.
    #[must_use]
    pub fn accepted(&self) -> Option<&Accepted> {
        self.accepted.as_ref()
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<Answer, SyncError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.client.get(&url);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let unreachable = |source: reqwest::Error| CallError::Unreachable {
            url: url.clone(),
            source,
        };
        let resp = req.send().map_err(unreachable)?;
        let status = resp.status().as_u16();
        if status >= 400 {
            // Its problem read bounded, with the server's advice on retrying.
            return Err(crate::south::refused(&url, resp).into());
        }
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let held = resp.headers().contains_key("preference-applied");
        let traceparent = resp
            .headers()
            .get(crate::south::TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 64)
            .map(str::to_owned);
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(SyncError::Invalid(format!(
                "`{url}` is over {MAX_BODY} bytes"
            )));
        }
        let body = resp.bytes().map_err(unreachable)?;
        if body.len() > MAX_BODY {
            return Err(SyncError::Invalid(format!(
                "`{url}` is over {MAX_BODY} bytes"
            )));
        }
        Ok(Answer {
            status,
            etag,
            body: body.to_vec(),
            held,
            traceparent,
        })
    }

    /// Ask for the manifest; when it is new, fetch and verify every
    /// deployment it lists.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses, the manifest is invalid
    /// or not newer, or a document does not match its digest.
    pub fn poll(&self) -> Result<Poll, SyncError> {
        self.poll_within(None).map(|(p, _)| p)
    }

    /// [`ManifestSync::poll`], asking the server to hold an unchanged answer
    /// for up to `wait` (`Prefer: wait=N`, RFC 7240) so a change arrives the
    /// moment it is made. The flag says whether the server honoured that;
    /// one that does not answers at once, and the caller paces its polls.
    ///
    /// # Errors
    /// As [`ManifestSync::poll`].
    pub fn poll_within(
        &self,
        wait: Option<std::time::Duration>,
    ) -> Result<(Poll, bool), SyncError> {
        let mut headers = vec![("accept", MANIFEST_MEDIA_TYPE)];
        if let Some(a) = &self.accepted {
            headers.push(("if-none-match", a.etag.as_str()));
        }
        let prefer = wait.map(|w| format!("wait={}", w.as_secs()));
        if let Some(p) = &prefer {
            headers.push(("prefer", p.as_str()));
        }
        let Answer {
            status,
            etag,
            body,
            held,
            traceparent,
        } = self.get(routes::MARGO_MANIFEST, &headers)?;
        if status == 304 {
            return Ok((Poll::Unchanged, held));
        }
        let m = check_manifest(&body, self.accepted.as_ref())?;
        let etag = etag.unwrap_or_else(|| digest::etag(&digest::sha256(&body)));
        let mut deployments = Vec::with_capacity(m.deployments.len());
        for d in &m.deployments {
            let bytes = self.get(&d.url, &[])?.body;
            if !digest::verify(&bytes, &d.digest) {
                return Err(SyncError::DigestMismatch {
                    url: d.url.clone(),
                    expected: d.digest.to_string(),
                    got: digest::sha256(&bytes).to_string(),
                });
            }
            deployments.push(Verified {
                id: d.deployment_id.to_string(),
                digest: d.digest.clone(),
                bytes,
            });
        }
        Ok((
            Poll::Changed(NewState {
                version: m.manifest_version,
                etag,
                deployments,
                traceparent,
            }),
            held,
        ))
    }

    /// Record `state` as accepted (after the caller reconciled it), and keep
    /// it in `file` when given.
    ///
    /// # Errors
    /// When the file cannot be written; the state is not accepted then.
    pub fn accept(&mut self, state: &NewState, file: Option<&Path>) -> std::io::Result<()> {
        let accepted = Accepted {
            version: state.version,
            etag: state.etag.clone(),
        };
        if let Some(path) = file {
            save(path, &accepted)?;
        }
        self.accepted = Some(accepted);
        Ok(())
    }
}

/// Read what was accepted before; `None` when the file does not exist.
///
/// # Errors
/// When the file exists but cannot be read or is not an accepted state.
pub fn load(path: &Path) -> std::io::Result<Option<Accepted>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "`{}` is not an accepted manifest state: {e}",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Write `accepted` to `path` atomically and durably (temporary file,
/// fsync, rename, fsync of the folder): after a crash the file holds the old
/// state or the new one, never a mix.
///
/// # Errors
/// When any step fails.
pub fn save(path: &Path, accepted: &Accepted) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("accepted")
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(accepted).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: u64, digest: &str) -> Vec<u8> {
        format!(
            r#"{{"manifestVersion":{version},"bundle":{{"mediaType":"application/vnd.margo.bundle.v1+tar+gzip","digest":"{digest}","url":"/api/v1/bundles/{digest}"}},"deployments":[{{"deploymentId":"0b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e","digest":"{digest}","url":"/api/v1/deployments/0b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e/{digest}"}}]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_manifest_must_be_newer_than_the_accepted_one() {
        let d = format!("sha256:{}", "a".repeat(64));
        let stored = Accepted {
            version: 7,
            etag: "\"x\"".into(),
        };
        assert!(check_manifest(&manifest(8, &d), Some(&stored)).is_ok());
        assert!(check_manifest(&manifest(1, &d), None).is_ok());
        for v in [7, 6] {
            let e = check_manifest(&manifest(v, &d), Some(&stored)).unwrap_err();
            assert!(
                matches!(e, SyncError::NotNewer { got, accepted: 7 } if got == v),
                "{e}"
            );
        }
    }

    #[test]
    fn an_unsupported_digest_algorithm_or_a_broken_manifest_is_invalid() {
        let e =
            check_manifest(&manifest(2, &format!("sha512:{}", "a".repeat(128))), None).unwrap_err();
        assert!(matches!(e, SyncError::Invalid(_)), "{e}");
        for bad in [
            &b"{}"[..],
            b"not json",
            b"{\"manifestVersion\":0,\"bundle\":null,\"deployments\":[]}",
        ] {
            assert!(matches!(
                check_manifest(bad, None),
                Err(SyncError::Invalid(_))
            ));
        }
    }

    #[test]
    fn the_accepted_state_is_saved_atomically_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accepted.json");
        assert_eq!(load(&path).unwrap(), None);
        let a = Accepted {
            version: 3,
            etag: "\"sha256:ab\"".into(),
        };
        save(&path, &a).unwrap();
        assert_eq!(load(&path).unwrap(), Some(a.clone()));
        let b = Accepted { version: 4, ..a };
        save(&path, &b).unwrap();
        assert_eq!(load(&path).unwrap(), Some(b));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        std::fs::write(&path, "garbage").unwrap();
        assert!(load(&path).is_err());
    }

    #[test]
    fn size_bytes_is_advisory_and_never_judged() {
        let d = format!("sha256:{}", "a".repeat(64));
        let text = String::from_utf8(manifest(2, &d)).unwrap();
        for size in ["0", "1", "18446744073709551615"] {
            let lying = text.replace(
                "\"digest\":\"sha256:",
                &format!("\"sizeBytes\":{size},\"digest\":\"sha256:"),
            );
            assert!(lying.contains("sizeBytes"));
            assert!(
                check_manifest(lying.as_bytes(), None).is_ok(),
                "sizeBytes {size} is only advice"
            );
        }
    }
}
