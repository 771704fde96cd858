//! The content-addressed artifact store every tier keeps: the CO (the
//! package-local artifacts of what it deploys and what an export pulled),
//! the LO (what its edge nodes asked for, and what a site stick carried),
//! the edge node (what its workloads run). This crate owns its layout; no
//! other code writes into it by path.
//!
//! Layout of a store folder (`DATA/`[`DIR`] in every tier's data folder):
//!
//! - `sha256/<hex>` holds exactly the bytes whose SHA-256 is `<hex>`, and
//!   nothing else ever lands there;
//! - `partial/` holds writes in progress: each is renamed into `sha256/`
//!   only after its digest is verified, so a crash leaves either nothing or
//!   a partial copy the next [`Cas::fill`] resumes from its length;
//! - `refs/` pins the registry references an edge node resolved to a
//!   digest ([`Cas::pin`]), so what it runs can start again with no network.
//!
//! The store does no networking: [`Cas::fill`] takes any source that can
//! start at an offset (an HTTP range of the fleet manager's blob endpoint,
//! a registry, a file on a stick). It depends only on `edge-model`.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use edge_model::Digest;

pub use edge_model::artifact::MAX_ARTIFACT;

/// The store's folder inside a tier's data folder.
pub const DIR: &str = "artifacts";
/// Verified artifacts, by hex digest.
const STORED: &str = "sha256";
/// Writes in progress.
const PARTIAL: &str = "partial";
/// Pinned registry references.
const REFS: &str = "refs";

/// A source that failed for a reason it can only put in words.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an artifact could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    /// A local file operation failed.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The source could not be opened or read.
    #[error("cannot download `{url}`")]
    Source {
        /// What was asked.
        url: String,
        /// Why.
        source: BoxError,
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

impl CasError {
    /// The source `url` failed with `source` (for the `open` of
    /// [`Cas::fill`]).
    pub fn source(url: &str, source: impl Into<BoxError>) -> Self {
        Self::Source {
            url: url.to_owned(),
            source: source.into(),
        }
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CasError + 'a {
    move |source| CasError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn hex(digest: &Digest) -> &str {
    digest
        .as_str()
        .strip_prefix("sha256:")
        .unwrap_or(digest.as_str())
}

/// What a [`Cas::fill`] source answers: where its bytes start, and them.
pub type Opened<'s> = (u64, Box<dyn Read + 's>);

/// A store folder.
#[derive(Debug, Clone)]
pub struct Cas {
    dir: PathBuf,
}

impl Cas {
    /// A store in `dir`, created when missing.
    ///
    /// # Errors
    /// When its folders cannot be created.
    pub fn open(dir: &Path) -> Result<Self, CasError> {
        for sub in [STORED, PARTIAL, REFS] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).map_err(io("create", &d))?;
        }
        Ok(Self::at(dir))
    }

    /// The store in `dir` as it is, to read (nothing is created).
    #[must_use]
    pub fn at(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    /// The store of the tier whose data folder is `data`, created when
    /// missing.
    ///
    /// # Errors
    /// As [`Cas::open`].
    pub fn in_data(data: &Path) -> Result<Self, CasError> {
        Self::open(&data.join(DIR))
    }

    /// Where `digest` lives once stored.
    fn final_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(STORED).join(hex(digest))
    }

    /// The stored file of `digest`, if present.
    #[must_use]
    pub fn get(&self, digest: &Digest) -> Option<PathBuf> {
        let p = self.final_path(digest);
        p.is_file().then_some(p)
    }

    /// Store `bytes` under their own digest (idempotent).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest, CasError> {
        let digest = edge_model::digest::sha256(bytes);
        if self.get(&digest).is_none() {
            let tmp = self.unique_partial(&digest);
            let mut f = fs::File::create(&tmp).map_err(io("write", &tmp))?;
            f.write_all(bytes).map_err(io("write", &tmp))?;
            f.sync_all().map_err(io("write", &tmp))?;
            let dest = self.final_path(&digest);
            fs::rename(&tmp, &dest).map_err(io("store", &dest))?;
        }
        Ok(digest)
    }

    /// A partial file of `digest` no other writer uses (concurrent deploys
    /// store the same bytes).
    fn unique_partial(&self, digest: &Digest) -> PathBuf {
        static WRITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.dir
            .join(PARTIAL)
            .join(format!("{}.{}.{n}", hex(digest), std::process::id()))
    }

    /// Store the file `path` as `digest` (copied, verified, then renamed
    /// into place), refusing more than `limit` bytes; a digest already
    /// stored is left as it is. Returns whether it was new.
    ///
    /// # Errors
    /// When the file cannot be read or written, is too large, or is not
    /// the digest's bytes (nothing is stored then).
    pub fn put_file(&self, path: &Path, digest: &Digest, limit: u64) -> Result<bool, CasError> {
        if self.get(digest).is_some() {
            return Ok(false);
        }
        let what = path.display().to_string();
        let tmp = self.unique_partial(digest);
        let file = fs::File::open(path).map_err(io("read", path))?;
        self.write_from(&tmp, 0, false, Box::new(file), limit, &what)?;
        self.seal(&tmp, &what, digest)?;
        Ok(true)
    }

    /// Bytes stored so far, over all artifacts.
    #[must_use]
    pub fn total(&self) -> u64 {
        let Ok(entries) = fs::read_dir(self.dir.join(STORED)) else {
            return 0;
        };
        entries
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum()
    }

    /// Delete every stored artifact not in `keep` (`sha256:…` digests), and
    /// partial downloads not in `keep` that nobody touched for a day (a
    /// download interrupted before a restart resumes); returns the bytes
    /// freed.
    pub fn retain(&self, keep: &HashSet<String>) -> u64 {
        let mut freed = 0;
        let stale = |e: &fs::DirEntry| {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(86_400))
        };
        for sub in [STORED, PARTIAL] {
            let Ok(entries) = fs::read_dir(self.dir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !keep.contains(&format!("sha256:{name}")) && (sub == STORED || stale(&e)) {
                    let len = e.metadata().map_or(0, |m| m.len());
                    if fs::remove_file(e.path()).is_ok() {
                        freed += len;
                    }
                }
            }
        }
        freed
    }

    /// How many bytes of `digest` an interrupted fill left (0 for none).
    #[must_use]
    pub fn partial_len(&self, digest: &Digest) -> u64 {
        fs::metadata(self.dir.join(PARTIAL).join(hex(digest))).map_or(0, |m| m.len())
    }

    /// Fill the store with `digest` from a source `open`ed at the length of
    /// the partial copy already here; it answers where its bytes start
    /// (that length, or 0 to start over). Refuses more than `limit` bytes
    /// and verifies the digest before the artifact becomes visible. `what`
    /// names the source in errors. Returns the stored file.
    ///
    /// # Errors
    /// When the source fails, sends too much or other bytes, or a file
    /// cannot be written; a partial copy that may be resumed is kept.
    pub fn fill<'s>(
        &self,
        digest: &Digest,
        limit: u64,
        what: &str,
        open: impl FnOnce(u64) -> Result<Opened<'s>, CasError>,
    ) -> Result<PathBuf, CasError> {
        if let Some(p) = self.get(digest) {
            return Ok(p);
        }
        let partial = self.dir.join(PARTIAL).join(hex(digest));
        let (start, body) = open(self.partial_len(digest))?;
        self.write_from(&partial, start, start > 0, body, limit, what)?;
        self.seal(&partial, what, digest)
    }

    /// Write `body` into `partial` (appending from `start`, or afresh),
    /// refusing more than `limit` bytes in all.
    fn write_from(
        &self,
        partial: &Path,
        start: u64,
        append: bool,
        mut body: Box<dyn Read + '_>,
        limit: u64,
        what: &str,
    ) -> Result<(), CasError> {
        let mut file = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(partial)
            .map_err(io("write", partial))?;
        let mut written = start;
        let mut buf = vec![0_u8; 64 * 1024];
        loop {
            let n = body.read(&mut buf).map_err(|e| CasError::source(what, e))?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > limit {
                drop(file);
                let _ = fs::remove_file(partial);
                return Err(CasError::TooLarge {
                    url: what.to_owned(),
                    limit,
                });
            }
            file.write_all(&buf[..n]).map_err(io("write", partial))?;
        }
        file.sync_all().map_err(io("write", partial))
    }

    /// Remember that the registry reference `reference` named `digest` of
    /// `size` bytes, so the node can start it again with no network.
    ///
    /// # Errors
    /// When the pin cannot be written.
    pub fn pin(&self, reference: &str, digest: &Digest, size: u64) -> Result<(), CasError> {
        let path = self.pin_path(reference);
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, format!("{digest} {size}\n{reference}\n")).map_err(io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("store", &path))
    }

    /// What [`Cas::pin`] remembered for `reference`.
    #[must_use]
    pub fn pinned(&self, reference: &str) -> Option<(Digest, u64)> {
        let text = fs::read_to_string(self.pin_path(reference)).ok()?;
        let (head, named) = text.split_once('\n')?;
        if named.trim_end() != reference {
            return None;
        }
        let (digest, size) = head.split_once(' ')?;
        Some((Digest::new(digest).ok()?, size.parse().ok()?))
    }

    /// Forget the pins of every reference not in `keep`.
    pub fn unpin_except(&self, keep: &HashSet<String>) {
        let wanted: HashSet<PathBuf> = keep.iter().map(|r| self.pin_path(r)).collect();
        let Ok(entries) = fs::read_dir(self.dir.join(REFS)) else {
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
        self.dir.join(REFS).join(hex(&name))
    }

    /// Verify a complete partial copy and move it into place.
    fn seal(&self, partial: &Path, url: &str, digest: &Digest) -> Result<PathBuf, CasError> {
        let got = file_digest(partial)?;
        if got != *digest {
            let _ = fs::remove_file(partial);
            return Err(CasError::Mismatch {
                url: url.to_owned(),
                want: digest.to_string(),
                got: got.to_string(),
            });
        }
        let dest = self.final_path(digest);
        fs::rename(partial, &dest).map_err(io("store", &dest))?;
        Ok(dest)
    }
}

/// The digest of a file's content, read in chunks.
///
/// # Errors
/// When the file cannot be read.
pub fn file_digest(path: &Path) -> Result<Digest, CasError> {
    let f = fs::File::open(path).map_err(io("read", path))?;
    edge_model::digest::sha256_of(f).map_err(io("read", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_sha256_partial_and_refs() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::in_data(dir.path()).unwrap();
        let store = dir.path().join("artifacts");
        for sub in ["sha256", "partial", "refs"] {
            assert!(store.join(sub).is_dir(), "{sub}");
        }
        let d = cas.put(b"alpha").unwrap();
        let hex = d.as_str().strip_prefix("sha256:").unwrap();
        assert_eq!(cas.get(&d), Some(store.join("sha256").join(hex)));
        assert_eq!(Cas::at(&store).get(&d), cas.get(&d));
        assert_eq!(fs::read_dir(store.join("partial")).unwrap().count(), 0);
    }

    #[test]
    fn put_is_idempotent_and_retain_frees_what_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::open(dir.path()).unwrap();
        let a = cas.put(b"alpha").unwrap();
        assert_eq!(cas.put(b"alpha").unwrap(), a);
        let b = cas.put(b"beta!").unwrap();
        assert_eq!(fs::read(cas.get(&a).unwrap()).unwrap(), b"alpha");
        assert_eq!(cas.total(), 10);
        assert_eq!(file_digest(&cas.get(&b).unwrap()).unwrap(), b);
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
        assert_eq!(cas.partial_len(&digest), 4000);
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
    fn put_file_verifies_before_storing() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::open(&dir.path().join("store")).unwrap();
        let file = dir.path().join("blob");
        fs::write(&file, b"module").unwrap();
        let d = edge_model::digest::sha256(b"module");
        assert!(cas.put_file(&file, &d, 6).unwrap());
        assert!(!cas.put_file(&file, &d, 6).unwrap());
        let other = edge_model::digest::sha256(b"other");
        let e = cas.put_file(&file, &other, 6).unwrap_err();
        assert!(matches!(e, CasError::Mismatch { .. }), "{e}");
        let e = cas.put_file(&file, &other, 5).unwrap_err();
        assert!(matches!(e, CasError::TooLarge { .. }), "{e}");
        assert!(cas.get(&other).is_none());
        assert_eq!(
            fs::read_dir(dir.path().join("store/partial"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn an_io_error_names_its_path_once_and_keeps_the_os_error_as_source() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::at(dir.path());
        let e = cas
            .put_file(
                &dir.path().join("absent"),
                &edge_model::digest::sha256(b""),
                1,
            )
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("cannot read `") && !text.contains("os error"),
            "{text}"
        );
        assert!(std::error::Error::source(&e).is_some());
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
