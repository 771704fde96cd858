//! Fuzzes `edge_workspace::stick::read_manifest`, the reader of an imported
//! stick's `stick.json`: the bytes are written as the manifest of a scratch
//! stick and read back; an accepted manifest names only sha256 digests.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn stick() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fuzz_target!(|data: &[u8]| {
    let dir = stick();
    std::fs::write(dir.join(edge_workspace::stick::MANIFEST), data).unwrap();
    if let Ok(m) = edge_workspace::stick::read_manifest(dir) {
        for a in &m.artifacts {
            assert!(a.digest.starts_with("sha256:"), "{}", a.digest);
        }
    }
});
