//! [`fetch_package`]: a shallow clone of a package over `http://` or
//! `https://` into a folder, from a host the [`SourcePolicy`] permits, within
//! its download bound (as it streams), [`MAX_PACKAGE_BYTES`] and
//! [`MAX_PACKAGE_FILES`], with failures turned into errors the user can act on.

use std::fs;
use std::io;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use gix::bstr::ByteSlice;

use super::download::{self, Budget};
use super::source::SourcePolicy;
use super::{GitError, describe, open_options};

/// The largest checkout [`fetch_package`] accepts, in bytes of file content.
pub const MAX_PACKAGE_BYTES: u64 = 256 * 1024 * 1024;

/// The most files (including symbolic links) [`fetch_package`] accepts.
pub const MAX_PACKAGE_FILES: usize = 100_000;

/// How long [`fetch_package`] waits for a TCP connection to the server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Clone the repository at `url` and check out `reference` (a branch or tag;
/// the remote's `HEAD` when `None`) into `dest`, without any `.git` metadata.
///
/// `dest` must not exist yet or be an empty directory. The clone is shallow
/// (depth 1) and goes through a scratch directory next to `dest` that is
/// removed afterwards. The URL's host must be one `policy` permits (see
/// [`SourcePolicy`]); the download stops at its bound. A checkout over
/// [`MAX_PACKAGE_BYTES`] or [`MAX_PACKAGE_FILES`] is refused before any file
/// is written. On error, `dest` is left as it was found (absent, or empty).
pub fn fetch_package(
    url: &str,
    reference: Option<&str>,
    dest: &Path,
    policy: &SourcePolicy,
) -> Result<(), GitError> {
    check_url(url, policy)?;
    let created = prepare_destination(dest)?;
    let result = fetch_into(url, reference, dest, policy);
    if result.is_err() {
        clear_destination(dest, created);
    }
    result
}

fn check_url(url: &str, policy: &SourcePolicy) -> Result<(), GitError> {
    let unsupported = || GitError::UnsupportedUrl {
        url: url.to_owned(),
    };
    let parsed = gix::url::parse(url.as_bytes().as_bstr()).map_err(|_| unsupported())?;
    let http = matches!(
        parsed.scheme,
        gix::url::Scheme::Http | gix::url::Scheme::Https
    );
    let Some(host) = parsed.host().filter(|h| !h.is_empty()) else {
        return Err(unsupported());
    };
    if !http || !url.contains("://") {
        return Err(unsupported());
    }
    let port = parsed
        .port
        .unwrap_or(if parsed.scheme == gix::url::Scheme::Https {
            443
        } else {
            80
        });
    if policy.addresses(host, port).is_empty() {
        return Err(GitError::SourceNotAllowed {
            url: url.to_owned(),
        });
    }
    Ok(())
}

/// Make sure `dest` is an empty directory; `true` if it was created here.
fn prepare_destination(dest: &Path) -> Result<bool, GitError> {
    let io_err = |source| GitError::Destination {
        path: dest.to_owned(),
        source,
    };
    match fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => {
            if fs::read_dir(dest).map_err(io_err)?.next().is_some() {
                return Err(GitError::DestinationNotEmpty {
                    path: dest.to_owned(),
                });
            }
            Ok(false)
        }
        Ok(_) => Err(GitError::DestinationNotEmpty {
            path: dest.to_owned(),
        }),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            fs::create_dir(dest).map_err(io_err)?;
            Ok(true)
        }
        Err(err) => Err(io_err(err)),
    }
}

/// Undo a failed fetch: remove `dest` if we created it, else empty it again.
/// Best effort: the original error is what the caller needs to see.
fn clear_destination(dest: &Path, created: bool) {
    if created {
        let _ = fs::remove_dir_all(dest);
        return;
    }
    if let Ok(entries) = fs::read_dir(dest) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = match entry.file_type() {
                Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
        }
    }
}

fn fetch_into(
    url: &str,
    reference: Option<&str>,
    dest: &Path,
    policy: &SourcePolicy,
) -> Result<(), GitError> {
    let budget = Budget::new(policy.max_download);
    let fetch_failed = |err: gix::Error| {
        if budget.exhausted() {
            GitError::TooLarge {
                url: url.to_owned(),
                detail: format!(
                    "the download was stopped at {} bytes, the bound on one app source",
                    policy.max_download
                ),
            }
        } else {
            classify_fetch_error(url, reference, &err)
        }
    };
    let parent = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let scratch = tempfile::Builder::new()
        .prefix(".edge-fetch-")
        .tempdir_in(parent)
        .map_err(|source| GitError::Destination {
            path: parent.to_owned(),
            source,
        })?;
    let interrupt = AtomicBool::new(false);

    let mut prepare = gix::clone::PrepareFetch::new(
        url,
        scratch.path(),
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        open_options(),
    )
    .map_err(fetch_failed)?
    .with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::MIN))
    .configure_connection({
        let (policy, budget) = (Arc::new(policy.clone()), budget.clone());
        move |connection| download::configure(connection, &policy, &budget, CONNECT_TIMEOUT)
    });
    if let Some(reference) = reference {
        prepare =
            prepare
                .with_ref_name(Some(reference))
                .map_err(|_| GitError::ReferenceNotFound {
                    url: url.to_owned(),
                    reference: reference.to_owned(),
                })?;
    }
    let (repo, _outcome) = prepare
        .fetch_only(gix::progress::Discard, &interrupt)
        .map_err(fetch_failed)?;

    let head = repo.head().map_err(fetch_failed)?;
    if head.is_unborn() {
        return Err(GitError::EmptyRepository {
            url: url.to_owned(),
        });
    }
    let tree = repo.head_tree_id().map_err(fetch_failed)?.detach();
    let mut index = repo.index_from_tree(&tree).map_err(fetch_failed)?;
    check_size(url, &repo, &index)?;

    let checkout_failed = |detail: String| GitError::Checkout {
        url: url.to_owned(),
        path: dest.to_owned(),
        detail,
    };
    let mut options = repo
        .checkout_options(gix::worktree::stack::state::attributes::Source::IdMapping)
        .map_err(|err| checkout_failed(describe(&err)))?;
    options.destination_is_initially_empty = true;
    options.thread_limit = Some(1);
    let objects = repo
        .objects
        .clone()
        .into_arc()
        .map_err(|err| checkout_failed(err.to_string()))?;
    let outcome = gix::worktree::state::checkout(
        &mut index,
        dest,
        objects,
        &gix::progress::Discard,
        &gix::progress::Discard,
        &interrupt,
        options,
    )
    .map_err(|err| checkout_failed(describe(&err)))?;
    if let Some(first) = outcome.errors.first() {
        return Err(checkout_failed(format!(
            "`{}`: {:#} ({} files failed)",
            first.path,
            first.error,
            outcome.errors.len()
        )));
    }
    if let Some(first) = outcome.collisions.first() {
        return Err(checkout_failed(format!(
            "`{}` collides with another path ({} collisions)",
            first.path,
            outcome.collisions.len()
        )));
    }
    // The limits were checked on the tree; this catches content that grew in
    // checkout filters.
    if outcome.bytes_written > MAX_PACKAGE_BYTES {
        return Err(GitError::TooLarge {
            url: url.to_owned(),
            detail: format!("checking out wrote {} bytes", outcome.bytes_written),
        });
    }
    drop(repo);
    scratch.close().map_err(|source| GitError::Destination {
        path: parent.to_owned(),
        source,
    })
}

/// Refuse trees over the limits before writing anything, using object headers
/// (sizes without inflating the content).
fn check_size(
    url: &str,
    repo: &gix::Repository,
    index: &gix::index::State,
) -> Result<(), GitError> {
    let too_large = |detail: String| GitError::TooLarge {
        url: url.to_owned(),
        detail,
    };
    let files = index.entries().len();
    if files > MAX_PACKAGE_FILES {
        return Err(too_large(format!("it has {files} files")));
    }
    let mut bytes = 0u64;
    for entry in index.entries() {
        if entry.mode == gix::index::entry::Mode::COMMIT {
            continue; // a submodule: nothing is checked out for it
        }
        let header = repo
            .find_header(entry.id)
            .map_err(|err| classify_fetch_error(url, None, &err))?;
        bytes = bytes.saturating_add(header.size());
        if bytes > MAX_PACKAGE_BYTES {
            return Err(too_large(format!("its files hold more than {bytes} bytes")));
        }
    }
    Ok(())
}

/// The innermost cause of a `gix` error, like `Connection refused (os error 111)`.
fn root_cause(err: &gix::Error) -> String {
    err.iter_errors()
        .last()
        .map_or_else(|| err.to_string(), ToString::to_string)
}

/// Turn a `gix` fetch error into the sentence the user needs.
fn classify_fetch_error(url: &str, reference: Option<&str>, err: &gix::Error) -> GitError {
    for cause in err.iter_errors() {
        if let Some(http) = cause.downcast_ref::<reqwest::Error>() {
            match http.status().map(|status| status.as_u16()) {
                Some(404 | 410) => {
                    return GitError::NotFound {
                        url: url.to_owned(),
                    };
                }
                Some(401 | 403) => {
                    return GitError::Unauthorized {
                        url: url.to_owned(),
                    };
                }
                _ => {}
            }
            if http.is_connect() || http.is_timeout() {
                let cause = root_cause(err);
                return GitError::Unreachable {
                    url: url.to_owned(),
                    detail: if http.is_timeout() {
                        format!("timed out ({cause})")
                    } else {
                        cause
                    },
                };
            }
        }
        if let Some(io) = cause.downcast_ref::<io::Error>()
            && matches!(
                io.kind(),
                io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::HostUnreachable
                    | io::ErrorKind::NetworkUnreachable
            )
        {
            return GitError::Unreachable {
                url: url.to_owned(),
                detail: root_cause(err),
            };
        }
    }
    if let Some(reference) = reference
        && err.is_not_found()
    {
        return GitError::ReferenceNotFound {
            url: url.to_owned(),
            reference: reference.to_owned(),
        };
    }
    GitError::Fetch {
        url: url.to_owned(),
        detail: describe(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testkit::write;

    #[test]
    fn only_http_urls_are_fetched() {
        let tmp = tempfile::tempdir().unwrap();
        for url in [
            "ftp://x",
            "file:///tmp/repo",
            "ssh://host/repo",
            "git://host/repo",
            "host:repo",
            "/tmp/repo",
            "http://",
        ] {
            let err = fetch_package(
                url,
                None,
                &tmp.path().join("dest"),
                &SourcePolicy::default(),
            )
            .unwrap_err();
            assert!(
                matches!(err, GitError::UnsupportedUrl { .. }),
                "{url}: {err}"
            );
            assert!(err.to_string().contains(&format!("`{url}`")), "{err}");
        }
        assert!(!tmp.path().join("dest").exists());
    }

    #[test]
    fn a_non_empty_destination_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "dest/keep", "mine");
        let loopback = SourcePolicy::new(&["127.0.0.1".into()], &[], 1).unwrap();
        let err = fetch_package(
            "http://127.0.0.1:9/x.git",
            None,
            &tmp.path().join("dest"),
            &loopback,
        )
        .unwrap_err();
        assert!(matches!(err, GitError::DestinationNotEmpty { .. }), "{err}");
        assert_eq!(
            fs::read_to_string(tmp.path().join("dest/keep")).unwrap(),
            "mine"
        );
    }
}
