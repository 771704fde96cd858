//! A content-addressed artifact store: `DIR/sha256/<hex>` holds exactly the
//! bytes whose SHA-256 is `<hex>`, and nothing else ever lands there.
//!
//! The CO fills it with the package-local artifacts of what it deploys, the
//! LO with what its edge nodes asked for (fetched once from the CO), the EN
//! with what its workloads run. Writes go to `DIR/partial/<hex>` first and
//! are renamed into place only after the digest is verified, so a crash
//! leaves either nothing or a partial download that the next
//! [`Cas::download`] resumes with an HTTP `Range` request (or [`Cas::fill`]
//! with whatever source can start at an offset, such as a registry).
//! `DIR/refs/` pins the registry references an edge node resolved to a
//! digest, so what it runs can start again with no network.

use std::fs;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use edge_model::Digest;

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
        for sub in ["sha256", "partial", "refs"] {
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
            // Unique per writer: concurrent deploys store the same bytes.
            static WRITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = WRITERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = self.dir.join("partial").join(format!(
                "{}.{}.{n}",
                hex(&digest),
                std::process::id()
            ));
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
        self.fill(digest, limit, url, |have| {
            let fetch = |detail: String| CasError::Fetch {
                url: url.to_owned(),
                detail,
            };
            let mut req = client.get(url);
            if have > 0 {
                req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
            }
            let resp = req.send().map_err(|e| fetch(e.to_string()))?;
            let status = resp.status();
            match status.as_u16() {
                206 if have > 0 => Ok((have, Box::new(resp) as Box<dyn Read>)),
                200 => Ok((0, Box::new(resp))),
                // The partial file is already complete (or longer than the artifact).
                416 => Ok((have, Box::new(std::io::empty()))),
                _ => {
                    let body = resp.text().unwrap_or_default();
                    Err(fetch(format!(
                        "answered {status}: {}",
                        body.chars().take(300).collect::<String>()
                    )))
                }
            }
        })
    }

    /// Fill the store with `digest` from a source `open`ed at the length of
    /// the partial download already here; it answers where its bytes start
    /// (that length, or 0 to start over). `what` names the source in errors.
    pub(crate) fn fill<'s>(
        &self,
        digest: &Digest,
        limit: u64,
        what: &str,
        open: impl FnOnce(u64) -> Result<(u64, Box<dyn Read + 's>), CasError>,
    ) -> Result<PathBuf, CasError> {
        if let Some(p) = self.get(digest) {
            return Ok(p);
        }
        let partial = self.dir.join("partial").join(hex(digest));
        let have = fs::metadata(&partial).map_or(0, |m| m.len());
        if have > 0 {
            tracing::info!(what, from = have, "resuming a download");
        }
        let (start, mut body) = open(have)?;
        let append = start > 0;
        let mut file = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&partial)
            .map_err(io("write", &partial))?;
        let mut written = start;
        let mut buf = vec![0_u8; 64 * 1024];
        loop {
            let n = body.read(&mut buf).map_err(|e| CasError::Fetch {
                url: what.to_owned(),
                detail: e.to_string(),
            })?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > limit {
                drop(file);
                let _ = fs::remove_file(&partial);
                return Err(CasError::TooLarge {
                    url: what.to_owned(),
                    limit,
                });
            }
            file.write_all(&buf[..n]).map_err(io("write", &partial))?;
        }
        file.sync_all().map_err(io("write", &partial))?;
        drop(file);
        self.seal(&partial, what, digest)
    }

    /// Remember that the registry reference `reference` named `digest` of
    /// `size` bytes, so the node can start it again with no network.
    pub(crate) fn pin(&self, reference: &str, digest: &Digest, size: u64) -> Result<(), CasError> {
        let path = self.pin_path(reference);
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, format!("{digest} {size}\n{reference}\n")).map_err(io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("store", &path))
    }

    /// What [`Cas::pin`] remembered for `reference`.
    pub(crate) fn pinned(&self, reference: &str) -> Option<(Digest, u64)> {
        let text = fs::read_to_string(self.pin_path(reference)).ok()?;
        let (head, named) = text.split_once('\n')?;
        if named.trim_end() != reference {
            return None;
        }
        let (digest, size) = head.split_once(' ')?;
        Some((Digest::new(digest).ok()?, size.parse().ok()?))
    }

    /// Forget the pins of every reference not in `keep`.
    pub(crate) fn unpin_except(&self, keep: &std::collections::HashSet<String>) {
        let wanted: std::collections::HashSet<PathBuf> =
            keep.iter().map(|r| self.pin_path(r)).collect();
        let Ok(entries) = fs::read_dir(self.dir.join("refs")) else {
            return;
        };
        for e in entries.flatten() {
            if !wanted.contains(&e.path()) {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    fn pin_path(&self, reference: &str) -> PathBuf {
        let name = edge_model::digest::sha256(reference.as_bytes());
        self.dir.join("refs").join(hex(&name))
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
    let f = fs::File::open(path).map_err(io("read", path))?;
    Ok(edge_model::digest::sha256_of(f)
        .map_err(io("read", path))?
        .to_string())
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

    #[test]
    fn fill_resumes_a_partial_download_and_refuses_other_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::open(dir.path()).unwrap();
        let body = b"0123456789".repeat(1000);
        let digest = edge_model::digest::sha256(&body);
        fs::write(dir.path().join("partial").join(hex(&digest)), &body[..4000]).unwrap();
        let mut asked = None;
        let path = cas
            .fill(&digest, 1 << 20, "test", |have| {
                asked = Some(have);
                Ok((
                    have,
                    Box::new(&body[usize::try_from(have).unwrap()..]) as Box<dyn Read>,
                ))
            })
            .unwrap();
        assert_eq!(asked, Some(4000));
        assert_eq!(fs::read(path).unwrap(), body);

        let other = edge_model::digest::sha256(b"something else");
        let e = cas
            .fill(&other, 1 << 20, "test", |_| {
                Ok((0, Box::new(&b"forged"[..]) as Box<dyn Read>))
            })
            .unwrap_err();
        assert!(matches!(e, CasError::Mismatch { .. }), "{e}");
        assert!(cas.get(&other).is_none());
        let e = cas
            .fill(&other, 3, "test", |_| {
                Ok((0, Box::new(&b"forged"[..]) as Box<dyn Read>))
            })
            .unwrap_err();
        assert!(matches!(e, CasError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn concurrent_puts_of_the_same_bytes_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::open(dir.path()).unwrap();
        let bytes = vec![7_u8; 1 << 20];
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| cas.put(&bytes))).collect();
            for h in handles {
                assert!(h.join().unwrap().is_ok());
            }
        });
        assert_eq!(cas.total(), 1 << 20);
    }

    #[test]
    fn pins_survive_and_are_forgotten_when_unwanted() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::open(dir.path()).unwrap();
        let d = cas.put(b"module").unwrap();
        cas.pin("reg:5000/app:1.0.0", &d, 6).unwrap();
        cas.pin("reg:5000/other:2.0.0", &d, 6).unwrap();
        let again = Cas::open(dir.path()).unwrap();
        assert_eq!(again.pinned("reg:5000/app:1.0.0"), Some((d.clone(), 6)));
        assert_eq!(again.pinned("reg:5000/app:9.9.9"), None);
        again.unpin_except(&["reg:5000/app:1.0.0".to_owned()].into_iter().collect());
        assert_eq!(again.pinned("reg:5000/other:2.0.0"), None);
        assert!(again.pinned("reg:5000/app:1.0.0").is_some());
    }
}
