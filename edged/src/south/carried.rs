//! Git objects riding on the CO's nudge (`WatchReply::objects`): zlib
//! and base64 on the wire, bounded when read back (the LO checks each
//! object against its id when it takes them in).

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use edge_api::types::CarriedObject;
use edge_workspace::git::LooseObject;

/// Largest object taken from a nudge (uncompressed).
const MAX_OBJECT: u64 = 1024 * 1024;
/// Most bytes all objects of one nudge may hold (uncompressed).
const MAX_TOTAL: u64 = 4 * 1024 * 1024;

/// `objects` as they travel, and how many bytes they take there.
pub(crate) fn encode(objects: &[LooseObject]) -> (Vec<CarriedObject>, usize) {
    let mut size = 0;
    let out = objects
        .iter()
        .map(|o| {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            // Writing to a Vec cannot fail.
            let _ = z.write_all(&o.data);
            let data =
                base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap_or_default());
            size += data.len() + o.id.len() + o.kind.len() + 32;
            CarriedObject {
                id: o.id.clone(),
                kind: o.kind.clone(),
                data,
            }
        })
        .collect();
    (out, size)
}

/// The objects of a nudge; `None` when one does not decode or they are too
/// large (the LO fetches with Git then).
pub(crate) fn decode(objects: &[CarriedObject]) -> Option<Vec<LooseObject>> {
    let mut total = 0;
    objects
        .iter()
        .map(|o| {
            let z = base64::engine::general_purpose::STANDARD
                .decode(&o.data)
                .ok()?;
            let mut data = Vec::new();
            flate2::read::ZlibDecoder::new(z.as_slice())
                .take(MAX_OBJECT + 1)
                .read_to_end(&mut data)
                .ok()?;
            total += data.len() as u64;
            (data.len() as u64 <= MAX_OBJECT && total <= MAX_TOTAL).then(|| LooseObject {
                id: o.id.clone(),
                kind: o.kind.clone(),
                data,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_come_back_as_they_went_and_garbage_is_refused() {
        let o = LooseObject {
            id: "ab".repeat(20),
            kind: "blob".into(),
            data: b"kind: ApplicationDeployment\n".repeat(20),
        };
        let (wire, size) = encode(std::slice::from_ref(&o));
        assert!(size < o.data.len(), "compressed: {size}");
        assert_eq!(decode(&wire), Some(vec![o]));
        let mut bad = wire.clone();
        bad[0].data = "not base64!".into();
        assert_eq!(decode(&bad), None);
        // A bomb: a small wire form of more than an object may hold.
        let big = LooseObject {
            id: "cd".repeat(20),
            kind: "blob".into(),
            data: vec![0; MAX_OBJECT as usize + 1],
        };
        assert_eq!(decode(&encode(&[big]).0), None);
    }
}
