//! Whether the committed man page of `edged` (`man/edged.1`) is the one
//! its clap definition generates. Run with `EDGECTL_BLESS=1` to rewrite it
//! (the variable that blesses every generated file of the repository).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

fn page() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../man/edged.1")
}

#[test]
fn the_man_page_is_current() {
    let mut cmd = edged::Args::command();
    cmd.build();
    let mut generated = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut generated).unwrap();
    if std::env::var_os("EDGECTL_BLESS").is_some() {
        std::fs::write(page(), &generated).unwrap();
        return;
    }
    let committed = std::fs::read(page()).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run `EDGECTL_BLESS=1 cargo test -p edged --test cli`",
        page().display()
    );
}
