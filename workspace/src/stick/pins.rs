//! The LO's record of the registry references its sticks answered for
//! (`pins.json`, [`Pins`]): what each stick's artifacts answer for
//! ([`references`]), read back by the LO ([`read_pins`]) to serve its edge
//! nodes, and merged on each import ([`merged`]): the new stick's pins
//! override, an earlier one stays while its artifact is still in the LO's
//! store.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{FORMAT, MAX_JSON, PINS, StickArtifact, StickError, invalid, io};

/// Longest registry reference.
const MAX_REFERENCE: usize = 1024;

/// What an LO holds for one registry reference (an entry of [`PINS`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pin {
    /// `sha256:…` of the artifact, stored in the LO's `artifacts/`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
}

/// The LO's `pins.json`: registry reference → what it holds for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pins {
    /// [`FORMAT`].
    pub format: u32,
    /// The site's head on the stick that wrote them last.
    pub head: String,
    /// By reference.
    pub pins: BTreeMap<String, Pin>,
}

/// Whether `r` is a registry reference a stick may answer for: `oci://`,
/// a host and a name, printable, bounded.
fn reference_ok(r: &str) -> bool {
    r.len() <= MAX_REFERENCE
        && !r.chars().any(|c| c.is_control() || c.is_whitespace())
        && r.strip_prefix("oci://")
            .is_some_and(|rest| rest.contains('/'))
        && edge_model::profile::oci_reference(r, None).is_some()
}

/// A stick's registry references that do not add up: a malformed one, or
/// one named for two digests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReferenceError(String);

/// The registry references `artifacts` answer for, each naming one digest.
///
/// # Errors
/// A malformed reference, or one named for two digests.
pub fn references(artifacts: &[StickArtifact]) -> Result<BTreeMap<String, Pin>, ReferenceError> {
    let mut out = BTreeMap::new();
    for a in artifacts {
        let Some(r) = &a.reference else { continue };
        if !reference_ok(r) {
            return Err(ReferenceError(format!(
                "`{}` (the artifact {}) is not a registry reference `oci://HOST/NAME:TAG`",
                r.chars().take(MAX_REFERENCE).collect::<String>(),
                a.digest
            )));
        }
        let pin = Pin {
            digest: a.digest.clone(),
            size: a.size,
            media_type: a.media_type.clone(),
        };
        if let Some(other) = out.insert(r.clone(), pin)
            && other.digest != a.digest
        {
            return Err(ReferenceError(format!(
                "it names both {} and {} for `{r}`",
                other.digest, a.digest
            )));
        }
    }
    Ok(out)
}

/// What the LO data folder `lo_data` holds for registry references (none
/// before the first stick that carried any).
///
/// # Errors
/// When `pins.json` cannot be read, is too large or malformed.
pub fn read_pins(lo_data: &Path) -> Result<Pins, StickError> {
    let path = lo_data.join(PINS);
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Pins::default()),
        Err(e) => return Err(io("read", &path)(e)),
    };
    if meta.len() > MAX_JSON {
        return Err(invalid(
            lo_data,
            format!("`{PINS}` is larger than {MAX_JSON} bytes"),
        ));
    }
    let text = fs::read(&path).map_err(io("read", &path))?;
    serde_json::from_slice(&text)
        .map_err(|e| invalid(lo_data, format!("`{PINS}` does not read: {e}")))
}

/// The pins the LO at `lo_data` keeps after a stick at `head` answering
/// for `fresh`: those, and every earlier one they do not override whose
/// artifact the LO's artifact store still holds.
///
/// # Errors
/// When the earlier `pins.json` cannot be read.
pub(super) fn merged(
    lo_data: &Path,
    head: &str,
    fresh: BTreeMap<String, Pin>,
) -> Result<Pins, StickError> {
    let store = edge_cas::Cas::at(&lo_data.join(edge_cas::DIR));
    let mut pins = read_pins(lo_data)?.pins;
    pins.retain(|_, p| {
        edge_model::Digest::new(&p.digest)
            .ok()
            .is_some_and(|d| store.get(&d).is_some())
    });
    pins.extend(fresh);
    Ok(Pins {
        format: FORMAT,
        head: head.to_owned(),
        pins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_model::digest::sha256;

    const REF: &str = "oci://127.0.0.1:5000/apps/hello:1.0.0";
    const OTHER: &str = "oci://127.0.0.1:5000/apps/other:2";

    fn pin(bytes: &[u8]) -> Pin {
        Pin {
            digest: sha256(bytes).to_string(),
            size: bytes.len() as u64,
            media_type: "x".into(),
        }
    }

    fn store(lo: &Path, bytes: &[u8]) {
        edge_cas::Cas::in_data(lo).unwrap().put(bytes).unwrap();
    }

    fn write(lo: &Path, pins: &Pins) {
        fs::write(lo.join(PINS), serde_json::to_vec(pins).unwrap()).unwrap();
    }

    #[test]
    fn a_later_stick_without_a_reference_keeps_the_earlier_pin() {
        let lo = tempfile::tempdir().unwrap();
        store(lo.path(), b"image v1");
        let first = merged(
            lo.path(),
            "h1",
            BTreeMap::from([(REF.to_owned(), pin(b"image v1"))]),
        )
        .unwrap();
        write(lo.path(), &first);
        // A second stick (say, written with --skip-images) answers for none.
        let second = merged(lo.path(), "h2", BTreeMap::new()).unwrap();
        assert_eq!(second.head, "h2");
        assert_eq!(second.pins[REF], pin(b"image v1"));
        // A new pin overrides the earlier one for its reference.
        store(lo.path(), b"image v2");
        let third = merged(
            lo.path(),
            "h3",
            BTreeMap::from([
                (REF.to_owned(), pin(b"image v2")),
                (OTHER.to_owned(), pin(b"other")),
            ]),
        )
        .unwrap();
        assert_eq!(third.pins[REF], pin(b"image v2"));
        assert_eq!(third.pins.len(), 2);
        // An earlier pin whose artifact is gone is dropped.
        write(lo.path(), &first);
        let hex = sha256(b"image v1").to_string();
        fs::remove_file(
            lo.path()
                .join("artifacts/sha256")
                .join(hex.trim_start_matches("sha256:")),
        )
        .unwrap();
        assert!(
            merged(lo.path(), "h4", BTreeMap::new())
                .unwrap()
                .pins
                .is_empty()
        );
    }
}
