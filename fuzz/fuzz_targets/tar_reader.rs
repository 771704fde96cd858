//! Fuzzes `edge_workspace::archive::TarReader`, the one reader of untrusted
//! tar and gzip bytes: every entry and its data, within small limits. Checks
//! that the limits hold (entries, declared content, data actually read).
#![no_main]

use std::io::Read as _;

use edge_workspace::archive::{Limits, TarReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_header: 4096,
        ..Limits::of(1 << 20, 64)
    };
    let mut tar = TarReader::new(data, limits);
    let (mut entries, mut declared, mut read) = (0usize, 0u64, 0u64);
    while let Ok(Some(entry)) = tar.next_entry() {
        entries += 1;
        declared += entry.size;
        let mut buf = Vec::new();
        match (&mut tar).take(entry.size + 1).read_to_end(&mut buf) {
            Ok(n) => assert_eq!(
                n as u64, entry.size,
                "{entry:?} gave other data than it declares"
            ),
            Err(_) => assert!(buf.len() as u64 <= entry.size),
        }
        read += buf.len() as u64;
    }
    assert!(entries <= limits.max_entries);
    assert!(declared <= limits.max_bytes);
    assert!(read <= declared);
});
