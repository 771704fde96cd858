//! OTLP export requests at the protobuf wire level, with no protobuf crate:
//! a bounded reader that refuses malformed input (varints over ten bytes,
//! lengths past the buffer, groups, field number 0), [`stamp`], which gives
//! every `Resource` of a request the node's attributes (and removes any
//! the workload set under those names), and [`check_device`], the LO's
//! test that every `Resource` names the calling device.
//!
//! `ExportTraceServiceRequest`, `ExportMetricsServiceRequest` and
//! `ExportLogsServiceRequest` share their shape: field 1 (LEN, repeated) is
//! a `ResourceSpans`/`ResourceMetrics`/`ResourceLogs`, whose field 1 (LEN)
//! is the `Resource`, whose field 1 (LEN, repeated) is an attribute
//! (`KeyValue { key = 1, value = 2: AnyValue { string_value = 1 } }`).
//! Protobuf merges repeated occurrences of a singular message field, so
//! every occurrence of `resource` is read as one.

const WIRE_VARINT: u8 = 0;
const WIRE_I64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_I32: u8 = 5;

/// Why a body is not an OTLP export request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    /// Not protobuf, or not the shape of an export request.
    #[error("not an OTLP export request: {0}")]
    Malformed(&'static str),
    /// A `Resource` that does not name the calling device.
    #[error("a resource names device `{found}`, not the caller `{device}`")]
    Foreign {
        /// The caller.
        device: String,
        /// What the resource said (empty: nothing).
        found: String,
    },
}

/// One field of a message: its number, wire type, the whole field's bytes
/// (tag included) and, for LEN fields, the payload.
struct Field<'a> {
    number: u64,
    wire: u8,
    raw: &'a [u8],
    payload: &'a [u8],
}

fn varint(buf: &[u8], at: &mut usize) -> Result<u64, WireError> {
    let mut value = 0_u64;
    for i in 0..10 {
        let b = *buf
            .get(*at)
            .ok_or(WireError::Malformed("a varint runs past the end"))?;
        *at += 1;
        if i == 9 && b > 1 {
            return Err(WireError::Malformed("a varint over 64 bits"));
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError::Malformed("a varint over ten bytes"))
}

/// Every field of the message `buf`, checked to lie within it.
fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>, WireError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let start = at;
        let tag = varint(buf, &mut at)?;
        let number = tag >> 3;
        let wire = u8::try_from(tag & 7).unwrap_or(u8::MAX);
        if number == 0 || number > 536_870_911 {
            return Err(WireError::Malformed("a field number out of range"));
        }
        let take = |at: &mut usize, n: usize| -> Result<(usize, usize), WireError> {
            let end = at
                .checked_add(n)
                .filter(|e| *e <= buf.len())
                .ok_or(WireError::Malformed("a field runs past the end"))?;
            let s = *at;
            *at = end;
            Ok((s, end))
        };
        let payload = match wire {
            WIRE_VARINT => {
                varint(buf, &mut at)?;
                &buf[at..at]
            }
            WIRE_I64 => {
                take(&mut at, 8)?;
                &buf[at..at]
            }
            WIRE_I32 => {
                take(&mut at, 4)?;
                &buf[at..at]
            }
            WIRE_LEN => {
                let n = usize::try_from(varint(buf, &mut at)?)
                    .map_err(|_| WireError::Malformed("a length out of range"))?;
                let (s, e) = take(&mut at, n)?;
                &buf[s..e]
            }
            _ => return Err(WireError::Malformed("an unsupported wire type")),
        };
        out.push(Field {
            number,
            wire,
            raw: &buf[start..at],
            payload,
        });
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(u8::try_from(v & 0x7f).unwrap_or(0) | 0x80);
        v >>= 7;
    }
    out.push(u8::try_from(v).unwrap_or(0));
}

/// Append LEN field `number` holding `payload`.
pub(crate) fn put_len(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
    put_varint(out, (number << 3) | u64::from(WIRE_LEN));
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// Append varint field `number`.
pub(crate) fn put_uint(out: &mut Vec<u8>, number: u64, v: u64) {
    put_varint(out, number << 3);
    put_varint(out, v);
}

/// Append I64 field `number` (`fixed64`, `sfixed64` or, by its bits, a
/// `double`).
pub(crate) fn put_fixed64(out: &mut Vec<u8>, number: u64, v: u64) {
    put_varint(out, (number << 3) | u64::from(WIRE_I64));
    out.extend_from_slice(&v.to_le_bytes());
}

/// An attribute `KeyValue` with a string value.
pub(crate) fn key_value(key: &str, value: &str) -> Vec<u8> {
    let mut any = Vec::new();
    put_len(&mut any, 1, value.as_bytes());
    let mut kv = Vec::new();
    put_len(&mut kv, 1, key.as_bytes());
    put_len(&mut kv, 2, &any);
    kv
}

/// A `google.rpc.Status` with `code` and `message`, the body of an OTLP/HTTP
/// error answer.
pub(crate) fn status(code: u64, message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    put_uint(&mut out, 1, code);
    put_len(&mut out, 2, message.as_bytes());
    out
}

/// The key and string value of an attribute (`None` value: not a string).
fn attribute(kv: &[u8]) -> Result<(&str, Option<&str>), WireError> {
    let mut key = None;
    let mut value = None;
    for f in fields(kv)? {
        match (f.number, f.wire) {
            (1, WIRE_LEN) => {
                key = Some(
                    std::str::from_utf8(f.payload)
                        .map_err(|_| WireError::Malformed("an attribute key is not UTF-8"))?,
                );
            }
            (2, WIRE_LEN) => {
                value = None;
                for v in fields(f.payload)? {
                    if (v.number, v.wire) == (1, WIRE_LEN) {
                        value = Some(std::str::from_utf8(v.payload).map_err(|_| {
                            WireError::Malformed("an attribute value is not UTF-8")
                        })?);
                    }
                }
            }
            (1 | 2, _) => return Err(WireError::Malformed("an attribute of the wrong type")),
            _ => {}
        }
    }
    Ok((key.unwrap_or_default(), value))
}

/// An entry of a request: its resource's bytes and its other fields.
type Entry<'a> = (Vec<u8>, Vec<Field<'a>>);

/// The entries (`Resource*` messages) of a request, each split into its
/// resource (every occurrence, joined) and its other fields.
fn entries(body: &[u8]) -> Result<Vec<Entry<'_>>, WireError> {
    let mut out = Vec::new();
    for f in fields(body)? {
        if f.number != 1 || f.wire != WIRE_LEN {
            return Err(WireError::Malformed(
                "a field an export request does not have",
            ));
        }
        let mut resource = Vec::new();
        let mut rest = Vec::new();
        for g in fields(f.payload)? {
            if g.number == 1 {
                if g.wire != WIRE_LEN {
                    return Err(WireError::Malformed("a resource of the wrong type"));
                }
                resource.extend_from_slice(g.payload);
            } else {
                // Scopes and schema URLs, kept as they came (within
                // bounds, checked by `fields`).
                rest.push(g);
            }
        }
        out.push((resource, rest));
    }
    Ok(out)
}

/// `body` with `attrs` set on every resource: attributes of those names the
/// sender put there are removed first, so a workload cannot speak as
/// another. The bytes of everything else are kept as they came.
///
/// # Errors
/// When `body` is not an export request.
pub(crate) fn stamp(body: &[u8], attrs: &[(String, String)]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(body.len() + 256);
    for (resource, rest) in entries(body)? {
        let mut res = Vec::with_capacity(resource.len() + 128);
        for f in fields(&resource)? {
            if (f.number, f.wire) == (1, WIRE_LEN) {
                let (key, _) = attribute(f.payload)?;
                if attrs.iter().any(|(k, _)| k == key) {
                    continue;
                }
            } else if f.number == 1 {
                return Err(WireError::Malformed("an attribute of the wrong type"));
            }
            res.extend_from_slice(f.raw);
        }
        for (k, v) in attrs {
            put_len(&mut res, 1, &key_value(k, v));
        }
        let mut entry = Vec::with_capacity(res.len() + 16);
        put_len(&mut entry, 1, &res);
        for g in rest {
            entry.extend_from_slice(g.raw);
        }
        put_len(&mut out, 1, &entry);
    }
    Ok(out)
}

/// The number of entries of `body` when every resource in it names
/// `device` (or, for a gateway, a child `device/…`) in exactly one
/// attribute `key`.
///
/// # Errors
/// When `body` is not an export request, or a resource names no device,
/// several, or another.
pub(crate) fn check_device(body: &[u8], key: &str, device: &str) -> Result<usize, WireError> {
    let all = entries(body)?;
    for (resource, _) in &all {
        let mut named = Vec::new();
        for f in fields(resource)? {
            if (f.number, f.wire) == (1, WIRE_LEN) {
                let (k, v) = attribute(f.payload)?;
                if k == key {
                    named.push(v.unwrap_or_default());
                }
            }
        }
        let ok = match named.as_slice() {
            [one] => {
                *one == device
                    || one
                        .strip_prefix(device)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
            _ => false,
        };
        if !ok {
            return Err(WireError::Foreign {
                device: device.to_owned(),
                found: named.join(","),
            });
        }
    }
    Ok(all.len())
}

/// The string attributes of every resource of `body`, in order (for tests
/// and logs).
#[cfg(test)]
pub(crate) fn resource_attributes(body: &[u8]) -> Result<Vec<Vec<(String, String)>>, WireError> {
    let mut out = Vec::new();
    for (resource, _) in entries(body)? {
        let mut attrs = Vec::new();
        for f in fields(&resource)? {
            if (f.number, f.wire) == (1, WIRE_LEN) {
                let (k, v) = attribute(f.payload)?;
                attrs.push((k.to_owned(), v.unwrap_or_default().to_owned()));
            }
        }
        out.push(attrs);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request of one entry: a resource with `attrs`, then a scope field
    /// (field 2) holding `payload`.
    fn request(attrs: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let mut res = Vec::new();
        for (k, v) in attrs {
            put_len(&mut res, 1, &key_value(k, v));
        }
        let mut entry = Vec::new();
        put_len(&mut entry, 1, &res);
        put_len(&mut entry, 2, payload);
        let mut out = Vec::new();
        put_len(&mut out, 1, &entry);
        out
    }

    fn ours() -> Vec<(String, String)> {
        vec![
            ("edge.device.id".to_owned(), "edge-1".to_owned()),
            ("edge.deployment.id".to_owned(), "d-1".to_owned()),
        ]
    }

    #[test]
    fn stamping_adds_the_attributes_replaces_spoofed_ones_and_keeps_the_rest() {
        let body = request(
            &[("service.name", "svc"), ("edge.device.id", "edge-2")],
            b"\x0a\x03abc",
        );
        let out = stamp(&body, &ours()).unwrap();
        let attrs = resource_attributes(&out).unwrap();
        assert_eq!(
            attrs,
            vec![vec![
                ("service.name".to_owned(), "svc".to_owned()),
                ("edge.device.id".to_owned(), "edge-1".to_owned()),
                ("edge.deployment.id".to_owned(), "d-1".to_owned()),
            ]]
        );
        // The scope bytes are carried as they came.
        assert!(out.windows(5).any(|w| w == b"\x0a\x03abc"));
        assert_eq!(check_device(&out, "edge.device.id", "edge-1"), Ok(1));
    }

    #[test]
    fn several_resource_occurrences_merge_and_an_entry_without_one_gets_one() {
        let mut entry = Vec::new();
        let mut r1 = Vec::new();
        put_len(&mut r1, 1, &key_value("a", "1"));
        let mut r2 = Vec::new();
        put_len(&mut r2, 1, &key_value("b", "2"));
        put_len(&mut entry, 1, &r1);
        put_len(&mut entry, 1, &r2);
        let mut body = Vec::new();
        put_len(&mut body, 1, &entry);
        put_len(&mut body, 1, &[]);
        let attrs = resource_attributes(&stamp(&body, &ours()).unwrap()).unwrap();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[0].len(), 4, "{attrs:?}");
        assert_eq!(attrs[1].len(), 2, "{attrs:?}");
        // An empty request is a valid one.
        assert_eq!(stamp(&[], &ours()).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let good = request(&[("k", "v")], b"x");
        for (what, bad) in [
            ("truncated", good[..good.len() - 1].to_vec()),
            ("length past the end", vec![0x0a, 0x05, 0x01]),
            (
                "varint over ten bytes",
                vec![
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
            ),
            ("unterminated varint", vec![0x08, 0x80]),
            ("group", vec![0x0b, 0x0c]),
            ("field zero", vec![0x02, 0x00]),
            ("top-level varint", vec![0x08, 0x01]),
            ("resource as a varint", vec![0x0a, 0x02, 0x08, 0x01]),
            ("text", b"hello, this is not protobuf".to_vec()),
            (
                "key not UTF-8",
                request(&[("\u{0}", "v")], b"")
                    .iter()
                    .map(|b| if *b == 0 { 0xff } else { *b })
                    .collect(),
            ),
        ] {
            assert!(stamp(&bad, &ours()).is_err(), "{what} was taken");
            assert!(
                check_device(&bad, "edge.device.id", "edge-1").is_err(),
                "{what} was taken"
            );
        }
    }

    #[test]
    fn the_lo_refuses_resources_naming_another_device_or_none() {
        let mine = stamp(&request(&[], b""), &ours()).unwrap();
        assert_eq!(check_device(&mine, "edge.device.id", "edge-1"), Ok(1));
        assert!(matches!(
            check_device(&mine, "edge.device.id", "edge-2"),
            Err(WireError::Foreign { .. })
        ));
        assert!(check_device(&mine, "edge.device.id", "edge").is_err());
        let none = request(&[("service.name", "x")], b"");
        assert!(check_device(&none, "edge.device.id", "edge-1").is_err());
        let two = request(
            &[("edge.device.id", "edge-1"), ("edge.device.id", "edge-1")],
            b"",
        );
        assert!(check_device(&two, "edge.device.id", "edge-1").is_err());
        let child = request(&[("edge.device.id", "gw-1/cam-2")], b"");
        assert_eq!(check_device(&child, "edge.device.id", "gw-1"), Ok(1));
    }
}
