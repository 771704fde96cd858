//! Fuzzes `<edge_model::ApplicationDescription as MargoDocument>::from_slice` and the YAML/JSON round trip of accepted documents.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::round_trip::<edge_model::ApplicationDescription>(data));
