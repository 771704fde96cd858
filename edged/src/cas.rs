//! A content-addressed artifact store: `DIR/sha256/<hex>` holds exactly the
//! bytes whose SHA-256 is `<hex>`, and nothing else ever lands there.
//!
//! The CO fills it with the package-local artifacts of what it deploys, the
//! LO with what its edge nodes asked for (fetched once from the CO), the EN
//! with what its workloads run. Writes go to `DIR/partial/<hex>` first and
//! are renamed into place only after the digest is verified, so a crash
//! leaves either nothing or a partial download that the next
//! [`Cas::download`] resumes with an HTTP `Range` request.

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use edge_model::Digest;
use sha2::Digest as _;

/// The largest artifact any tier stores.
pub(crate) const MAX_ARTIFACT: u64 = 512 * 1024 * 1024;

/// Why an artifact could not be stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CasError {
    /// A local file operation failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server could not be reached or refused.
    #[error("cannot download `{url}`: {detail}")]
    Fetch {
        /// What was asked.
        url: String,
        /// Why.
        detail: String,
    },
    /// More bytes than allowed.
    #[error("`{url}` is larger than the {limit} bytes allowed")]
    TooLarge {
        /// What was asked.
        url: String,
        /// The bound.
        limit: u64,
    },
    /// The bytes are not the ones asked for.
    #[error("`{url}` sent bytes whose digest is {got}, not {want}; they were discarded")]
    Mismatch {
        /// What was asked.
        url: String,
        /// The digest asked for.
        want: String,
        /// The digest of what arrived.
        got: String,
    },
}

/// The store.
#[derive(Debug, Clone)]
pub(crate) struct Cas {
    dir: PathBuf,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CasError + 'a {
    move |source| CasError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

fn hex(digest: &Digest) -> &str {
    digest
        .as_str()
        .strip_prefix("sha256:")
        .unwrap_or(digest.as_str())
}

impl Cas {
    /// A store in `dir` (created when missing).
    pub(crate) fn open(dir: &Path) -> Result<Self, CasError> {
        for sub in ["sha256", "partial"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).map_err(io("create", &d))?;
        }
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// Where `digest` lives once stored.
    fn final_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("sha256").join(hex(digest))
    }

    /// The stored file of `digest`, if present.
    pub(crate) fn get(&self, digest: &Digest) -> Option<PathBuf> {
        let p = self.final_path(digest);
        p.is_file().then_some(p)
    }

    /// Store `bytes` under their own digest (idempotent).
    pub(crate) fn put(&self, bytes: &[u8]) -> Result<Digest, CasError> {
        let digest = edge_model::digest::sha256(bytes);
        if self.get(&digest).is_none() {
            let tmp =
                self.dir
                    .join("partial")
                    .join(format!("{}.{}", hex(&digest), std::process::id()));
            let mut f = fs::File::create(&tmp).map_err(io("write", &tmp))?;
            f.write_all(bytes).map_err(io("write", &tmp))?;
            f.sync_all().map_err(io("write", &tmp))?;
            let dest = self.final_path(&digest);
            fs::rename(&tmp, &dest).map_err(io("store", &dest))?;
        }
        Ok(digest)
    }

    /// Bytes stored so far, over all artifacts.
    pub(crate) fn total(&self) -> u64 {
        let Ok(entries) = fs::read_dir(self.dir.join("sha256")) else {
            return 0;
        };
        entries
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum()
    }

    /// Delete every stored artifact not in `keep`, and partial downloads
    /// not in `keep` that nobody touched for a day (a download interrupted
    /// before the node restarted resumes); returns the bytes freed.
    pub(crate) fn retain(&self, keep: &std::collections::HashSet<String>) -> u64 {
        let mut freed = 0;
        let stale = |e: &fs::DirEntry| {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(86_400))
        };
        for sub in ["sha256", "partial"] {
            let Ok(entries) = fs::read_dir(self.dir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !keep.contains(&format!("sha256:{name}")) && (sub == "sha256" || stale(&e)) {
                    let len = e.metadata().map_or(0, |m| m.len());
                    if fs::remove_file(e.path()).is_ok() {
                        freed += len;
                    }
                }
            }
        }
        freed
    }

    /// Fetch `url` (which serves the artifact `digest`) into the store,
    /// resuming a partial download left by an earlier attempt, refusing more
    /// than `limit` bytes and verifying the digest before the artifact
    /// becomes visible. Returns the stored file.
    pub(crate) fn download(
        &self,
        client: &reqwest::blocking::Client,
        url: &str,
        digest: &Digest,
        limit: u64,
    ) -> Result<PathBuf, CasError> {
        if let Some(p) = self.get(digest) {
            return Ok(p);
        }
        let partial = self.dir.join("partial").join(hex(digest));
        let have = fs::metadata(&partial).map_or(0, |m| m.len());
        let fetch = |detail: String| CasError::Fetch {
            url: url.to_owned(),
            detail,
        };
        let mut req = client.get(url);
        if have > 0 {
            tracing::info!(url, from = have, "resuming a download");
            req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let mut resp = req.send().map_err(|e| fetch(e.to_string()))?;
        let status = resp.status();
        let append = match status.as_u16() {
            206 if have > 0 => true,
            200 => false,
            // The partial file is already complete (or longer than the artifact).
            416 => {
                return self.seal(&partial, url, digest);
            }
            _ => {
                let body = resp.text().unwrap_or_default();
                return Err(fetch(format!(
                    "answered {status}: {}",
                    body.chars().take(300).collect::<String>()
                )));
            }
        };
        let mut file = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&partial)
            .map_err(io("write", &partial))?;
        let mut written = if append { have } else { 0 };
        let mut buf = vec![0_u8; 64 * 1024];
        loop {
            let n = resp.read(&mut buf).map_err(|e| fetch(e.to_string()))?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > limit {
                drop(file);
                let _ = fs::remove_file(&partial);
                return Err(CasError::TooLarge {
                    url: url.to_owned(),
                    limit,
                });
            }
            file.write_all(&buf[..n]).map_err(io("write", &partial))?;
        }
        file.sync_all().map_err(io("write", &partial))?;
        drop(file);
        self.seal(&partial, url, digest)
    }

    /// Verify a complete partial download and move it into place.
    fn seal(&self, partial: &Path, url: &str, digest: &Digest) -> Result<PathBuf, CasError> {
        let got = file_digest(partial)?;
        if got != *digest.as_str() {
            let _ = fs::remove_file(partial);
            return Err(CasError::Mismatch {
                url: url.to_owned(),
                want: digest.to_string(),
                got,
            });
        }
        let dest = self.final_path(digest);
        fs::rename(partial, &dest).map_err(io("store", &dest))?;
        Ok(dest)
    }
}

/// `sha256:<hex>` of a file's content, read in chunks.
pub(crate) fn file_digest(path: &Path) -> Result<String, CasError> {
    let mut f = fs::File::open(path).map_err(io("read", path))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(io("read", path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let mut text = String::with_capacity(71);
    text.push_str("sha256:");
    for b in h.finalize() {
        use std::fmt::Write as _;
        let _ = write!(text, "{b:02x}");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_is_idempotent_and_retain_frees_what_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::open(dir.path()).unwrap();
        let a = cas.put(b"alpha").unwrap();
        assert_eq!(cas.put(b"alpha").unwrap(), a);
        let b = cas.put(b"beta!").unwrap();
        assert_eq!(fs::read(cas.get(&a).unwrap()).unwrap(), b"alpha");
        assert_eq!(cas.total(), 10);
        assert_eq!(file_digest(&cas.get(&b).unwrap()).unwrap(), b.as_str());
        let keep = [a.to_string()].into_iter().collect();
        assert_eq!(cas.retain(&keep), 5);
        assert!(cas.get(&b).is_none());
        assert!(cas.get(&a).is_some());
    }
}
