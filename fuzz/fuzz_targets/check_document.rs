//! Fuzzes `edge_model::check_document`: kind detection and validation of any document.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(outcome) = edge_model::check_document(data) {
        if outcome.kind.is_none() {
            assert!(outcome.document.is_none(), "a document without a kind");
        }
        if outcome.document.is_some() {
            assert!(
                outcome.report.is_valid(),
                "a document was returned with errors: {:?}",
                outcome.report.errors
            );
        }
    }
});
