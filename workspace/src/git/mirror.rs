//! [`Mirror`]: a bare copy of a remote repository kept current by
//! incremental fetches over HTTP(S), the Local Orchestrator's copy of its
//! site repository. A fetch negotiates what the mirror already has, so one
//! changed file moves one small pack; [`Mirror::files_at`] reads a folder of
//! a commit straight from the object database, with no work tree.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use gix::bstr::ByteSlice as _;
use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::client::blocking_io::http as gix_http;

use super::{BRANCH, GitError, describe, http_status, open_options, repository_error};

/// The ref the mirror keeps the remote's branch under.
const TRACKING: &str = "refs/remotes/origin/main";

/// The most of a commit message [`Mirror::message`] reads.
const MAX_MESSAGE: usize = 64 * 1024;

/// A function that adjusts the HTTP client, for example to present a client
/// certificate (`reqwest::blocking::ClientBuilder::use_preconfigured_tls`).
pub type ConfigureClient =
    dyn Fn(reqwest::blocking::ClientBuilder) -> reqwest::blocking::ClientBuilder + Send + Sync;

/// What one [`Mirror::fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The remote branch's commit after the fetch (full hex); `None` when the
    /// remote has no commit yet.
    pub head: Option<String>,
    /// Objects received (0 when already up to date).
    pub objects: usize,
}

/// One file of a folder of a commit (see [`Mirror::files_at_except`]).
#[derive(Debug, Clone)]
pub struct TreeFile {
    /// Its name in the folder.
    pub name: String,
    /// Its blob id (hex).
    pub blob: String,
    /// Its content, unless the caller said it knows the blob.
    pub bytes: Option<Vec<u8>>,
}

/// A bare repository mirroring the `main` branch of one remote.
#[derive(Debug, Clone)]
pub struct Mirror {
    dir: PathBuf,
}

impl Mirror {
    /// Open the bare repository in `dir`, creating it when absent.
    ///
    /// # Errors
    /// When `dir` cannot be created or holds something that is not a repository.
    pub fn open_or_init(dir: &Path) -> Result<Self, GitError> {
        let failed = |err: gix::Error| GitError::Open {
            path: dir.to_owned(),
            detail: describe(&err),
        };
        if dir.join("HEAD").is_file() {
            gix::open_opts(dir, open_options()).map_err(failed)?;
        } else {
            std::fs::create_dir_all(dir).map_err(|source| GitError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
            gix::ThreadSafeRepository::init_opts(
                dir,
                gix::create::Kind::Bare,
                gix::create::Options::default(),
                open_options(),
            )
            .map_err(failed)?;
        }
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// A repository that already exists in `dir` (bare or not), read-only use.
    #[must_use]
    pub fn at(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    fn open(&self) -> Result<gix::Repository, GitError> {
        gix::open_opts(&self.dir, open_options()).map_err(|err| GitError::Open {
            path: self.dir.clone(),
            detail: describe(&err),
        })
    }

    fn failed(&self, action: &'static str) -> impl FnOnce(gix::Error) -> GitError + '_ {
        move |err| repository_error(action, &self.dir, &err)
    }

    /// The commit the mirror holds for the remote's `main`, if any.
    ///
    /// # Errors
    /// When the repository cannot be read.
    pub fn head(&self) -> Result<Option<String>, GitError> {
        let repo = self.open()?;
        let found = repo
            .try_find_reference(TRACKING)
            .map_err(self.failed("read the tracking branch"))?;
        Ok(found.and_then(|r| r.target().try_id().map(|id| id.to_hex().to_string())))
    }

    /// The message of `commit`, at most its first 64 KiB,
    /// read as UTF-8 (lossily).
    ///
    /// # Errors
    /// When the commit is unknown or does not read.
    pub fn message(&self, commit: &str) -> Result<String, GitError> {
        let repo = self.open()?;
        let unknown = || GitError::UnknownCommit {
            rev: commit.to_owned(),
        };
        let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|_| unknown())?;
        let found = repo.find_commit(id).map_err(|_| unknown())?;
        let decoded = found.decode().map_err(|_| unknown())?;
        let text = decoded.message;
        Ok(String::from_utf8_lossy(&text[..text.len().min(MAX_MESSAGE)]).into_owned())
    }

    /// How many commits the first-parent history of `commit` holds (1 for a
    /// root commit). It only grows as the branch moves forward.
    ///
    /// # Errors
    /// When the commit is unknown or the history cannot be read.
    pub fn depth(&self, commit: &str) -> Result<u64, GitError> {
        let repo = self.open()?;
        let id =
            gix::ObjectId::from_hex(commit.as_bytes()).map_err(|_| GitError::UnknownCommit {
                rev: commit.to_owned(),
            })?;
        let walk = repo
            .rev_walk([id])
            .first_parent_only()
            .all()
            .map_err(self.failed("walk the history"))?;
        let mut n = 0;
        for info in walk {
            info.map_err(self.failed("walk the history"))?;
            n += 1;
        }
        Ok(n)
    }

    /// Take in the objects of the commits after `base` up to `head` (from
    /// [`super::objects_after`] at the remote) and move the mirror there,
    /// only from `base`: each object is checked against its id and the
    /// branch moves once everything `head` names is present.
    ///
    /// # Errors
    /// When an object does not match its id or is missing, or the mirror is
    /// not at `base`; the mirror's branch does not move then.
    pub fn receive_after(
        &self,
        objects: impl IntoIterator<Item = super::LooseObject>,
        base: &str,
        head: &str,
    ) -> Result<usize, GitError> {
        Ok(super::receive_after(&self.dir, objects, TRACKING, base, head)?.objects)
    }

    /// Fetch the remote's `main` from `url` (HTTP or HTTPS), moving only the
    /// objects the mirror lacks. `configure` adjusts the HTTP client.
    ///
    /// # Errors
    /// When the remote cannot be reached, refuses, or sends something unusable;
    /// the mirror is unchanged then.
    pub fn fetch(&self, url: &str, configure: Arc<ConfigureClient>) -> Result<Fetched, GitError> {
        let repo = self.open()?;
        let fetch_failed = |err: gix::Error| match http_status(&err) {
            Some(404) => GitError::NotFound {
                url: url.to_owned(),
            },
            _ => GitError::Fetch {
                url: url.to_owned(),
                detail: describe(&err),
            },
        };
        let spec = format!("+refs/heads/{BRANCH}:{TRACKING}");
        let remote = repo
            .remote_at(url)
            .map_err(fetch_failed)?
            .with_refspecs([spec.as_str()], gix::remote::Direction::Fetch)
            .map_err(fetch_failed)?;
        let mut connection = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(fetch_failed)?;
        let configure_client: Box<gix_http::reqwest::ConfigureClientFn> =
            Box::new(move |builder: reqwest::blocking::ClientBuilder| {
                Ok(configure(
                    builder.connect_timeout(super::fetch::CONNECT_TIMEOUT),
                ))
            });
        let backend = gix_http::reqwest::Options {
            configure_client: Some(configure_client),
            configure_request: None,
        };
        let options = gix_http::Options {
            backend: Some(Arc::new(Mutex::new(backend))),
            ..Default::default()
        };
        set_options(&mut connection, options);
        let interrupt = AtomicBool::new(false);
        let outcome = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(fetch_failed)?
            .receive(gix::progress::Discard, &interrupt)
            .map_err(fetch_failed)?;
        let objects = match &outcome.status {
            gix::remote::fetch::Status::Change {
                write_pack_bundle, ..
            } => write_pack_bundle.index.num_objects as usize,
            gix::remote::fetch::Status::NoPackReceived { .. } => 0,
        };
        drop(repo);
        Ok(Fetched {
            head: self.head()?,
            objects,
        })
    }

    /// The files directly inside `folder` of `commit` whose names end in
    /// `suffix`, as (name, bytes), sorted by name. Subfolders are skipped.
    /// Refuses more than `max_files` entries or a file over `max_bytes`.
    ///
    /// # Errors
    /// When the commit is unknown or a limit is exceeded.
    pub fn files_at(
        &self,
        commit: &str,
        folder: &str,
        suffix: &str,
        max_files: usize,
        max_bytes: u64,
    ) -> Result<Vec<(String, Vec<u8>)>, GitError> {
        Ok(self
            .files_at_except(commit, folder, suffix, max_files, max_bytes, &|_| false)?
            .into_iter()
            .map(|f| (f.name, f.bytes.unwrap_or_default()))
            .collect())
    }

    /// As [`Mirror::files_at`], with each file's blob id, and without reading
    /// the content of blobs for which `known(blob id)` is true (the caller
    /// has them already); their `bytes` are `None`.
    ///
    /// # Errors
    /// When the commit is unknown or a limit is exceeded.
    pub fn files_at_except(
        &self,
        commit: &str,
        folder: &str,
        suffix: &str,
        max_files: usize,
        max_bytes: u64,
        known: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<TreeFile>, GitError> {
        let repo = self.open()?;
        let unknown = || GitError::UnknownCommit {
            rev: commit.to_owned(),
        };
        let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|_| unknown())?;
        let tree = repo
            .find_commit(id)
            .map_err(|_| unknown())?
            .tree()
            .map_err(self.failed("read a commit's tree"))?;
        let Some(entry) = tree.find_entry(folder).filter(|e| e.mode().is_tree()) else {
            return Ok(Vec::new());
        };
        let sub = repo
            .find_tree(entry.object_id())
            .map_err(self.failed("read a folder"))?;
        let mut out = Vec::new();
        for e in sub.iter() {
            let e = e.map_err(self.failed("read a folder entry"))?;
            let name = e.filename().to_str_lossy().into_owned();
            if !e.mode().is_blob() || !name.ends_with(suffix) {
                continue;
            }
            if out.len() >= max_files {
                return Err(GitError::TooLarge {
                    url: self.dir.display().to_string(),
                    detail: format!("`{folder}` has more than {max_files} files"),
                });
            }
            let blob = e.oid().to_hex().to_string();
            let bytes = if known(&blob) {
                None
            } else {
                let header = repo
                    .find_header(e.oid())
                    .map_err(self.failed("read an object header"))?;
                if header.size() > max_bytes {
                    return Err(GitError::TooLarge {
                        url: self.dir.display().to_string(),
                        detail: format!("`{folder}/{name}` is {} bytes", header.size()),
                    });
                }
                let data = repo
                    .find_blob(e.oid())
                    .map_err(self.failed("read a file"))?;
                Some(data.data.clone())
            };
            out.push(TreeFile { name, blob, bytes });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

fn set_options(
    connection: &mut gix::remote::Connection<'_, '_, '_, Box<dyn Transport + Send>>,
    options: gix_http::Options,
) {
    connection.set_transport_options(Box::new(options));
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;

    use super::*;

    /// A loopback HTTP server answering every request with `status`.
    fn answering(status: &'static str) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/git/site.git", l.local_addr().unwrap());
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let mut buf = [0; 4096];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        url
    }

    #[test]
    fn a_404_is_no_repository_and_other_statuses_are_fetch_failures() {
        let dir = tempfile::tempdir().unwrap();
        let mirror = Mirror::open_or_init(&dir.path().join("m.git")).unwrap();
        let plain: Arc<ConfigureClient> = Arc::new(|b| b);
        let e = mirror
            .fetch(&answering("404 Not Found"), plain.clone())
            .unwrap_err();
        assert!(matches!(e, GitError::NotFound { .. }), "{e}");
        let e = mirror
            .fetch(&answering("500 Internal Server Error"), plain)
            .unwrap_err();
        assert!(matches!(e, GitError::Fetch { .. }), "{e}");
    }
}
