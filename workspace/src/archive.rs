//! Package folders as tar archives: how `edgectl` uploads a local package to
//! the CO, and how the CO unpacks untrusted uploads safely.
//!
//! Packing keeps regular files and folders with their executable bit; links
//! and special files are refused. Unpacking accepts only relative paths
//! without `..`, only regular files and folders, applies 0644/0755 modes (never
//! setuid, setgid or sticky), and stops at size and entry limits before
//! writing past them. On any error nothing is left behind in the destination.
//!
//! Every reader of untrusted tar or gzip bytes in the project goes through
//! [`TarReader`] (`archive/reader.rs`): extension headers, the decompressed
//! stream, the content and the entries are all capped ([`Limits`]).

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};

mod reader;

pub use reader::{Entry, Kind, TarReader};

/// Limits for reading an untrusted archive; see [`TarReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest total of the entries' declared sizes.
    pub max_bytes: u64,
    /// Most entries.
    pub max_entries: usize,
    /// Largest GNU long-name or PAX extension header, checked on its
    /// declared size before it is read.
    pub max_header: u64,
    /// Most bytes the (decompressed) tar stream may hold: a gzip bomb stops here.
    pub max_stream: u64,
}

/// The default [`Limits::max_header`]: far beyond any real path (Linux
/// allows 4 KiB), small enough to hold in memory.
pub const MAX_HEADER: u64 = 64 * 1024;

impl Limits {
    /// Limits of `max_bytes` of content in at most `max_entries` entries,
    /// with [`MAX_HEADER`] and a stream cap that leaves room for every
    /// entry's headers and padding.
    #[must_use]
    pub const fn of(max_bytes: u64, max_entries: usize) -> Self {
        Self {
            max_bytes,
            max_entries,
            max_header: MAX_HEADER,
            max_stream: max_bytes
                .saturating_add((max_entries as u64).saturating_mul(4 * 1024))
                .saturating_add(1024 * 1024),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::of(64 * 1024 * 1024, 10_000)
    }
}

/// Why packing or unpacking failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// I/O on a named path.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The archive is not a (gzip) tar.
    #[error("the upload is not a tar archive: {0}")]
    Format(String),
    /// An entry is not allowed.
    #[error("`{path}` in the package is not allowed: {why}")]
    Entry {
        /// The entry.
        path: String,
        /// Why.
        why: &'static str,
    },
    /// Over a limit.
    #[error("the package is too large: {0}")]
    TooLarge(String),
}

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ArchiveError + 'a {
    move |source| ArchiveError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// Pack the folder `dir` as a gzip-compressed tar whose root is the folder's
/// content (a `.git` folder is left out).
pub fn pack_dir(dir: &Path) -> Result<Vec<u8>, ArchiveError> {
    pack_dir_as(dir, Path::new(""))
}

/// Pack the folder `dir` as a gzip-compressed tar whose entries all sit
/// below `top` (the one top directory of a Margo compose archive). The same
/// folder always packs to the same bytes: names sorted, times and owners zero.
pub fn pack_dir_as(dir: &Path, top: &Path) -> Result<Vec<u8>, ArchiveError> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = dir.join(&rel);
        let mut entries: Vec<_> = fs::read_dir(&full)
            .map_err(io("read", &full))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io("read", &full))?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for e in entries {
            let rel_child = rel.join(e.file_name());
            let path = e.path();
            let meta = fs::symlink_metadata(&path).map_err(io("read", &path))?;
            if meta.is_dir() {
                // A package kept in Git is uploaded without its history.
                if e.file_name() != ".git" {
                    stack.push(rel_child);
                }
            } else if meta.is_file() {
                let mut header = tar::Header::new_gnu();
                header.set_size(meta.len());
                header.set_mode(if meta.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                });
                header.set_entry_type(tar::EntryType::Regular);
                let file = fs::File::open(&path).map_err(io("read", &path))?;
                tar.append_data(&mut header, top.join(&rel_child), file)
                    .map_err(io("pack", &path))?;
            } else {
                return Err(ArchiveError::Entry {
                    path: rel_child.display().to_string(),
                    why: "only regular files and folders can be uploaded (no links)",
                });
            }
        }
    }
    let gz = tar.into_inner().map_err(io("pack", dir))?;
    gz.finish().map_err(io("pack", dir))
}

/// Unpack an untrusted (optionally gzip-compressed) tar into `dest`, which
/// must not exist yet.
pub fn unpack(bytes: &[u8], dest: &Path, limits: Limits) -> Result<(), ArchiveError> {
    fs::create_dir_all(dest).map_err(io("create", dest))?;
    let result = unpack_into(bytes, dest, limits);
    if result.is_err() {
        let _ = fs::remove_dir_all(dest);
    }
    result
}

fn unpack_into(bytes: &[u8], dest: &Path, limits: Limits) -> Result<(), ArchiveError> {
    let mut tar = TarReader::new(bytes, limits);
    while let Some(entry) = tar.next_entry()? {
        let shown = entry.path.display().to_string();
        let rel = safe_relative(&entry.path).ok_or(ArchiveError::Entry {
            path: shown.clone(),
            why: "paths must be relative and stay inside the package",
        })?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&rel);
        match entry.kind {
            Kind::Dir => {
                fs::create_dir_all(&target).map_err(io("create", &target))?;
            }
            Kind::File => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(io("create", parent))?;
                }
                if fs::symlink_metadata(&target).is_ok() {
                    return Err(ArchiveError::Entry {
                        path: shown,
                        why: "it appears twice",
                    });
                }
                let mut out = fs::File::create(&target).map_err(io("write", &target))?;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match tar.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(tar.fail(&e)),
                    };
                    out.write_all(&buf[..n]).map_err(io("write", &target))?;
                }
                out.flush().map_err(io("write", &target))?;
                let perm = if entry.mode & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                };
                fs::set_permissions(&target, fs::Permissions::from_mode(perm))
                    .map_err(io("write", &target))?;
            }
            Kind::Symlink | Kind::HardLink | Kind::Other(_) => {
                return Err(ArchiveError::Entry {
                    path: shown,
                    why: "only regular files and folders are allowed (no links or devices)",
                });
            }
        }
    }
    Ok(())
}

/// Check a Margo compose archive (DIGEST §11.2) completely before anything
/// is written: one top directory holding `compose.yaml`; only relative paths
/// without `..`; no links (one leaving the directory is named as such); no
/// setuid, setgid or sticky bits; no devices; within `limits`. Returns the
/// top directory's name.
pub fn check_compose(bytes: &[u8], limits: Limits) -> Result<String, ArchiveError> {
    let mut tar = TarReader::new(bytes, limits);
    let mut top: Option<String> = None;
    let mut has_compose = false;
    while let Some(entry) = tar.next_entry()? {
        let path = entry.path.display().to_string();
        let bad = |why: &'static str| ArchiveError::Entry {
            path: path.clone(),
            why,
        };
        let rel = safe_relative(&entry.path)
            .ok_or_else(|| bad("absolute paths and `..` are not allowed"))?;
        let mut parts = rel.components();
        let Some(first) = parts.next() else { continue };
        let first = first.as_os_str().to_string_lossy().into_owned();
        match &top {
            None => top = Some(first.clone()),
            Some(t) if *t != first => {
                return Err(bad("a compose archive has exactly one top directory"));
            }
            Some(_) => {}
        }
        if entry.mode & 0o7000 != 0 {
            return Err(bad("setuid, setgid and sticky bits are not allowed"));
        }
        match entry.kind {
            Kind::Dir => {}
            Kind::File => {
                if rel.components().count() == 1 {
                    return Err(bad("a compose archive has exactly one top directory"));
                }
                if parts.as_path() == Path::new("compose.yaml") {
                    has_compose = true;
                }
            }
            kind @ (Kind::Symlink | Kind::HardLink) => {
                let target = entry.link.clone().unwrap_or_default();
                // Resolve the target against the link's folder, lexically.
                let base = if kind == Kind::Symlink {
                    rel.parent().map(Path::to_path_buf).unwrap_or_default()
                } else {
                    PathBuf::new()
                };
                let mut depth: i64 = base.components().count().try_into().unwrap_or(i64::MAX);
                let mut escapes = target.is_absolute();
                for c in target.components() {
                    match c {
                        Component::ParentDir => depth -= 1,
                        Component::Normal(_) => depth += 1,
                        _ => {}
                    }
                    if depth < 1 {
                        escapes = true;
                    }
                }
                return Err(bad(if escapes {
                    "a link leaving the archive's directory is not allowed"
                } else {
                    "links are not allowed in a compose archive"
                }));
            }
            Kind::Other(_) => {
                return Err(bad(
                    "only regular files and folders are allowed (no devices or pipes)",
                ));
            }
        }
    }
    let top = top.ok_or_else(|| ArchiveError::Format("the archive is empty".into()))?;
    if !has_compose {
        return Err(ArchiveError::Entry {
            path: format!("{top}/compose.yaml"),
            why: "a compose archive must hold `compose.yaml` in its top directory",
        });
    }
    Ok(top)
}

/// [`check_compose`], then unpack into `dest` (which must not exist);
/// returns the top directory.
pub fn unpack_compose(bytes: &[u8], dest: &Path, limits: Limits) -> Result<PathBuf, ArchiveError> {
    let top = check_compose(bytes, limits)?;
    unpack(bytes, dest, limits)?;
    Ok(dest.join(top))
}

fn safe_relative(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_files_and_exec_bit() {
        let src = tempfile::tempdir().unwrap();
        fs::create_dir_all(src.path().join("a/b")).unwrap();
        fs::write(src.path().join("a/b/x.txt"), b"hello").unwrap();
        fs::write(src.path().join("run.sh"), b"#!/bin/sh\n").unwrap();
        fs::create_dir_all(src.path().join(".git/objects")).unwrap();
        fs::write(src.path().join(".git/HEAD"), b"ref: refs/heads/main\n").unwrap();
        fs::set_permissions(src.path().join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        let bytes = pack_dir(src.path()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("pkg");
        unpack(&bytes, &dest, Limits::default()).unwrap();
        assert_eq!(fs::read(dest.join("a/b/x.txt")).unwrap(), b"hello");
        let mode = fs::metadata(dest.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(!dest.join(".git").exists(), "history is not uploaded");
    }

    fn tar_with(path: &str, kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o4755);
        // `set_path` refuses `..`; write the raw name to build hostile archives.
        let name = path.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        if kind == tar::EntryType::Symlink {
            h.set_link_name("/etc/passwd").unwrap();
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn refuses_traversal_links_and_oversize_leaving_nothing() {
        let out = tempfile::tempdir().unwrap();
        for (name, kind) in [
            ("../evil", tar::EntryType::Regular),
            ("/abs", tar::EntryType::Regular),
            ("link", tar::EntryType::Symlink),
        ] {
            let dest = out.path().join("d");
            let err = unpack(&tar_with(name, kind, b"x"), &dest, Limits::default()).unwrap_err();
            assert!(matches!(err, ArchiveError::Entry { .. }), "{name}: {err}");
            assert!(!dest.exists());
        }
        let dest = out.path().join("big");
        let err = unpack(
            &tar_with("f", tar::EntryType::Regular, &[0; 100]),
            &dest,
            Limits::of(10, 10),
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::TooLarge(_)));
        let err = unpack(
            b"not a tar at all, just text that is long enough to fill a header? no",
            &out.path().join("x"),
            Limits::default(),
        );
        assert!(err.is_err());
    }

    #[test]
    fn setuid_bits_are_dropped() {
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("d");
        unpack(
            &tar_with("tool", tar::EntryType::Regular, b"x"),
            &dest,
            Limits::default(),
        )
        .unwrap();
        let mode = fs::metadata(dest.join("tool"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755);
    }

    fn entry(
        b: &mut tar::Builder<Vec<u8>>,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        link: Option<&str>,
        data: &[u8],
    ) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_path(path).unwrap_or_else(|_| {
            // `set_path` refuses `..` and absolute paths: write the raw name.
            let name = &mut h.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
        });
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn compose_with(extra: &[(&str, tar::EntryType, u32, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        entry(
            &mut b,
            "app/compose.yaml",
            tar::EntryType::Regular,
            0o644,
            None,
            b"services: {}\n",
        );
        for (p, k, m, l) in extra {
            entry(&mut b, p, *k, *m, *l, b"x");
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn a_compose_archive_is_checked_before_anything_is_written() {
        use tar::EntryType::{Regular, Symlink};
        let good = compose_with(&[("app/data/x.txt", Regular, 0o755, None)]);
        assert_eq!(check_compose(&good, Limits::default()).unwrap(), "app");
        let out = tempfile::tempdir().unwrap();
        let top = unpack_compose(&good, &out.path().join("p"), Limits::default()).unwrap();
        assert!(top.join("compose.yaml").is_file());
        let refused = |extra: &[(&str, tar::EntryType, u32, Option<&str>)], want: &str| {
            let bytes = compose_with(extra);
            let dest = out.path().join("bad");
            let e = unpack_compose(&bytes, &dest, Limits::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e}");
            assert!(!dest.exists(), "nothing written for {want}");
        };
        refused(&[("../evil", Regular, 0o644, None)], "`..` are not allowed");
        refused(
            &[("/etc/evil", Regular, 0o644, None)],
            "`..` are not allowed",
        );
        refused(
            &[("app/../../evil", Regular, 0o644, None)],
            "`..` are not allowed",
        );
        refused(&[("app/run", Regular, 0o4755, None)], "setuid");
        refused(
            &[("app/link", Symlink, 0o777, Some("../../etc/passwd"))],
            "leaving the archive",
        );
        refused(
            &[("app/link", Symlink, 0o777, Some("/etc/passwd"))],
            "leaving the archive",
        );
        refused(
            &[("app/link", Symlink, 0o777, Some("compose.yaml"))],
            "links are not allowed",
        );
        refused(&[("other/x", Regular, 0o644, None)], "one top directory");
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, "app/readme", Regular, 0o644, None, b"x");
        let e = check_compose(&b.into_inner().unwrap(), Limits::default()).unwrap_err();
        assert!(e.to_string().contains("compose.yaml"), "{e}");
    }
}
