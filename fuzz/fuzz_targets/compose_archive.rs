//! Fuzzes the compose-archive readers: `archive::check_compose` (the node's
//! check before unpacking), `image::compose_images` (the images its
//! `compose.yaml` names) and, for archives the check accepts,
//! `archive::unpack_compose` into a scratch folder, which must then hold
//! nothing outside it and no links.
#![no_main]

use std::path::Path;

use edge_workspace::archive::{self, Limits};
use libfuzzer_sys::fuzz_target;

fn no_links_below(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let kind = e.file_type().unwrap();
        assert!(!kind.is_symlink(), "{} is a link", e.path().display());
        if kind.is_dir() {
            no_links_below(&e.path());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_header: 4096,
        ..Limits::of(1 << 20, 64)
    };
    let _ = edge_workspace::image::compose_images(data);
    let Ok(top) = archive::check_compose(data, limits) else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("pkg");
    match archive::unpack_compose(data, &dest, limits) {
        Ok(at) => {
            assert_eq!(at, dest.join(&top));
            no_links_below(scratch.path());
        }
        Err(_) => assert!(!dest.exists(), "a refused archive left files behind"),
    }
});
