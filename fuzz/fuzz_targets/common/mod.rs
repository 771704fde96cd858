//! Shared check for the typed-document targets: parse, and when the input is
//! accepted, require that the document survives a YAML and a JSON round trip.

use std::fmt::Debug;

use edge_model::MargoDocument;

/// Parse `data` as a `T`; on success, serialize the document to YAML and to
/// JSON, parse each again and require an equal document.
pub fn round_trip<T: MargoDocument + PartialEq + Debug>(data: &[u8]) {
    let Ok(checked) = T::from_slice(data) else {
        return;
    };
    let doc = checked.document;

    let yaml = doc.to_yaml();
    match T::from_slice(yaml.as_bytes()) {
        Ok(again) => assert_eq!(
            doc, again.document,
            "YAML round trip changed the document; YAML was:\n{yaml}"
        ),
        Err(e) => panic!("YAML round trip rejected: {e}\nYAML was:\n{yaml}"),
    }

    let json = serde_json::to_vec(&doc).expect("a parsed document serializes to JSON");
    match T::from_slice(&json) {
        Ok(again) => assert_eq!(
            doc,
            again.document,
            "JSON round trip changed the document; JSON was:\n{}",
            String::from_utf8_lossy(&json)
        ),
        Err(e) => panic!(
            "JSON round trip rejected: {e}\nJSON was:\n{}",
            String::from_utf8_lossy(&json)
        ),
    }
}
