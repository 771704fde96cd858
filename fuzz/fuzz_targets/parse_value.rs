//! Fuzzes `edge_model::load::parse_value`: bounded YAML/JSON loading of untrusted bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((value, _format)) = edge_model::load::parse_value(data) {
        assert!(
            value.is_object(),
            "parse_value accepted a non-mapping: {value:?}"
        );
    }
});
