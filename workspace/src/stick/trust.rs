//! What an LO trusts, kept in its data folder so that the running LO, a
//! restart and `edgectl lo import` (another process) agree:
//!
//! - `trust.json` ([`TrustLists`]): the site's revoked device certificates
//!   and the device certificates the CO issued for it, both by SHA-256
//!   fingerprint, from the CO's watch replies or a signed stick. A
//!   revocation is never undone here ([`apply`] takes the union); the issued
//!   list is replaced by the newest one, less anything revoked. Writers hold
//!   `trust.lock` while they read, merge and write.
//! - `anchor.json` ([`Anchor`]): the site and the CA certificate of the LO's
//!   credentials, written when the LO starts, so `edgectl lo import` checks
//!   a stick's signature and site against them without the credentials.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{MAX_JSON, StickError, invalid, io, write_atomic};

/// The LO's trust lists.
pub const TRUST: &str = "trust.json";
/// The LO's site and CA certificate.
pub const ANCHOR: &str = "anchor.json";
const LOCK: &str = "trust.lock";

/// The revoked and issued device certificates of the LO's site.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustLists {
    /// Fingerprints of revoked device certificates.
    pub revoked: BTreeSet<String>,
    /// Fingerprints of the device certificates the CO issued for the site;
    /// `None` until a list came (the LO then accepts no device).
    pub issued: Option<BTreeSet<String>>,
}

/// The site an LO serves and the CA it trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Anchor {
    /// The site.
    pub site: String,
    /// The CA certificate(s), PEM.
    pub ca: String,
}

fn read_json<T: for<'de> Deserialize<'de>>(
    data: &Path,
    name: &str,
) -> Result<Option<T>, StickError> {
    let path = data.join(name);
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", &path)(e)),
    };
    if meta.len() > MAX_JSON * 16 {
        return Err(invalid(&path, "it is too large"));
    }
    let bytes = fs::read(&path).map_err(io("read", &path))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| invalid(&path, format!("it does not read: {e}")))
}

/// The LO's trust lists (empty, with no issued list, when none came yet).
///
/// # Errors
/// When `trust.json` cannot be read or does not read.
pub fn read_trust(data: &Path) -> Result<TrustLists, StickError> {
    Ok(read_json(data, TRUST)?.unwrap_or_default())
}

/// Add `revoked` to the LO's revoked certificates and, when given, make
/// `issued` (less every revoked one) its issued list; returns the lists now
/// held.
///
/// # Errors
/// When the lock or the file cannot be taken or written.
pub fn apply(
    data: &Path,
    revoked: &[String],
    issued: Option<&[String]>,
) -> Result<TrustLists, StickError> {
    fs::create_dir_all(data).map_err(io("create", data))?;
    let lock_path = data.join(LOCK);
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("open", &lock_path))?;
    lock.lock().map_err(io("lock", &lock_path))?;
    let mut lists = read_trust(data)?;
    let before = lists.clone();
    lists.revoked.extend(revoked.iter().cloned());
    if let Some(issued) = issued {
        lists.issued = Some(issued.iter().cloned().collect());
    }
    if let Some(issued) = lists.issued.as_mut() {
        issued.retain(|f| !lists.revoked.contains(f));
    }
    if lists != before {
        let text = serde_json::to_vec_pretty(&lists).map_err(|e| invalid(data, e.to_string()))?;
        write_atomic(&data.join(TRUST), &text)?;
    }
    drop(lock);
    Ok(lists)
}

/// Record the LO's site and CA certificate (when they changed).
///
/// # Errors
/// When `anchor.json` cannot be written.
pub fn write_anchor(data: &Path, anchor: &Anchor) -> Result<(), StickError> {
    if read_anchor(data).ok().flatten().as_ref() == Some(anchor) {
        return Ok(());
    }
    let text = serde_json::to_vec_pretty(anchor).map_err(|e| invalid(data, e.to_string()))?;
    write_atomic(&data.join(ANCHOR), &text)
}

/// The LO's site and CA certificate, when it recorded them.
///
/// # Errors
/// When `anchor.json` cannot be read or does not read.
pub fn read_anchor(data: &Path) -> Result<Option<Anchor>, StickError> {
    read_json(data, ANCHOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn revocations_are_never_undone_and_the_issued_list_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_trust(dir.path()).unwrap(), TrustLists::default());
        let l = apply(dir.path(), &v(&["a"]), None).unwrap();
        assert!(l.issued.is_none() && l.revoked.contains("a"));
        let l = apply(dir.path(), &[], Some(&v(&["a", "b", "c"]))).unwrap();
        assert_eq!(
            l.issued.unwrap().into_iter().collect::<Vec<_>>(),
            ["b", "c"]
        );
        let l = apply(dir.path(), &v(&["b"]), Some(&v(&["b", "d"]))).unwrap();
        assert_eq!(l.revoked.len(), 2);
        assert_eq!(
            l.issued.clone().unwrap().into_iter().collect::<Vec<_>>(),
            ["d"]
        );
        assert_eq!(read_trust(dir.path()).unwrap(), l);
        fs::write(dir.path().join(TRUST), b"{").unwrap();
        assert!(
            read_trust(dir.path())
                .unwrap_err()
                .to_string()
                .contains("does not read")
        );
    }

    #[test]
    fn the_anchor_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_anchor(dir.path()).unwrap().is_none());
        let a = Anchor {
            site: "s".into(),
            ca: "pem".into(),
        };
        write_anchor(dir.path(), &a).unwrap();
        assert_eq!(read_anchor(dir.path()).unwrap(), Some(a));
    }
}
