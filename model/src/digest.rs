//! Content digests and the one canonical serialization of served documents.
//!
//! A Margo digest is `sha256:` plus 64 lower-case hex digits over the exact
//! bytes served (DIGEST §8.4): callers hash the bytes they send or received,
//! never a re-serialization. State manifests are served as canonical JSON: keys
//! sorted, no insignificant whitespace, UTF-8, so the same manifest always has
//! the same bytes and therefore the same ETag. Manifests hold only strings,
//! integers, booleans, null, lists and mappings, for which this form agrees
//! with RFC 8785 (JCS).

use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::id::Digest;

/// `sha256:<hex>` of `bytes`.
#[must_use]
pub fn sha256(bytes: &[u8]) -> Digest {
    named(Sha256::digest(bytes).as_slice())
}

/// [`sha256`] of everything `reader` yields, read in chunks (a file of any size).
///
/// # Errors
/// When reading fails.
pub fn sha256_of(mut reader: impl std::io::Read) -> std::io::Result<Digest> {
    let mut h = Sha256::new();
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(named(h.finalize().as_slice()));
        }
        h.update(&buf[..n]);
    }
}

fn named(hash: &[u8]) -> Digest {
    let mut text = String::with_capacity(71);
    text.push_str("sha256:");
    for b in hash {
        // Writing to a String cannot fail.
        let _ = write!(text, "{b:02x}");
    }
    // `sha256:` and 64 lower-case hex digits: the pattern holds by construction.
    Digest::new_unchecked(text)
}

/// Whether `bytes` hash to `expected`.
#[must_use]
pub fn verify(bytes: &[u8], expected: &Digest) -> bool {
    sha256(bytes) == *expected
}

/// The ETag header value of a digest: the digest in double quotes.
#[must_use]
pub fn etag(digest: &Digest) -> String {
    format!("\"{digest}\"")
}

/// Canonical JSON bytes of `value`: sorted keys, compact, UTF-8.
#[must_use]
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Going through `Value` sorts every mapping (serde_json's map is ordered by
    // key). Serializing our model types cannot fail: keys are strings and
    // numbers are finite.
    let tree = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    serde_json::to_vec(&tree).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_hashes_as_its_bytes_do() {
        let bytes = vec![42_u8; 200_000]; // more than one chunk
        assert_eq!(sha256_of(bytes.as_slice()).unwrap(), sha256(&bytes));
        assert_eq!(sha256_of(&b""[..]).unwrap(), sha256(b""));
    }
    use serde_json::json;

    #[test]
    fn known_sha256() {
        assert_eq!(
            sha256(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256(b"{}").as_str(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert!(verify(b"abc", &sha256(b"abc")));
        assert!(!verify(b"abd", &sha256(b"abc")));
        assert_eq!(etag(&sha256(b"")).len(), 73);
    }

    #[test]
    fn canonical_json_sorts_and_compacts() {
        let a = json!({"b": 1, "a": {"d": [1, 2], "c": null}});
        let text = String::from_utf8(canonical_json(&a)).unwrap();
        assert_eq!(text, r#"{"a":{"c":null,"d":[1,2]},"b":1}"#);
        let b: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(canonical_json(&b), canonical_json(&a));
    }
}
