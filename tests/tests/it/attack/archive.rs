//! Attacks on the tar and gzip readers: oversized GNU long-name and PAX
//! headers, gzip bombs, traversal, links and devices, on every path that reads an
//! archive (app upload, compose archives on the node, images, sticks).
//!
//! The bombs are about a megabyte of gzip that inflates to a gigabyte behind
//! one extension header declaring 4 GiB: before the bounded reader, the `tar`
//! crate read such a header whole into memory (a 2 MB upload took the CO to
//! 12.7 GB resident). Each upload must be refused with a sentence naming the
//! cap, nothing stored, and the CO's peak resident memory (`VmHWM`) stay low.

use std::io::Write as _;
use std::path::Path;

use edge_api::ClientError;
use edge_tests::co::Co;
use edge_workspace::archive::{self, Limits};

/// Bytes of zeros behind a bomb's header: a gigabyte, about 1 MB of gzip.
const INFLATED: u64 = 1 << 30;
/// What the CO's peak resident memory must stay under.
const MAX_RESIDENT_KB: u64 = 300 * 1024;

/// A gzip tar: one header of type `flag` declaring `declared` bytes, then
/// [`INFLATED`] zeros. Compressed by the system's `gzip` (this crate's
/// dependencies are unoptimized in test builds, and slow at a gigabyte).
fn bomb(flag: u8, declared: u64) -> Vec<u8> {
    use std::io::Read as _;
    let mut h = tar::Header::new_gnu();
    h.set_path("././@LongLink").unwrap();
    h.set_entry_type(tar::EntryType::new(flag));
    h.set_size(declared);
    h.set_mode(0o644);
    h.set_cksum();
    let mut gzip = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = gzip.stdin.take().unwrap();
    let header = h.as_bytes().to_vec();
    let feeder = std::thread::spawn(move || {
        stdin.write_all(&header).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..INFLATED >> 20 {
            stdin.write_all(&zeros).unwrap();
        }
    });
    let mut out = Vec::new();
    gzip.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    feeder.join().unwrap();
    assert!(gzip.wait().unwrap().success());
    out
}

/// A plain tar of one entry whose raw name, type and link are given.
fn hostile(name: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut ok = tar::Header::new_gnu();
    ok.set_size(3);
    ok.set_mode(0o644);
    b.append_data(&mut ok, "margo.yaml", &b"x: 1"[..3]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(0);
    h.set_mode(0o644);
    // `set_path` refuses `..`: write the raw name.
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        h.set_link_name(l).unwrap();
    }
    h.set_cksum();
    b.append(&h, &[][..]).unwrap();
    b.into_inner().unwrap()
}

/// The peak resident memory of the `edged` serving `data`, in kB.
fn peak_kb(data: &Path) -> u64 {
    let want = data.as_os_str().as_encoded_bytes();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_co = args.first().is_some_and(|a| a.ends_with(b"edged"))
            && args.windows(2).any(|w| w[0] == b"--data" && w[1] == want);
        if !is_co {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("VmHWM in /proc status");
        return line
            .split_whitespace()
            .nth(1)
            .and_then(|kb| kb.parse().ok())
            .expect("a number of kB");
    }
    panic!("no edged process serves {}", data.display());
}

/// Upload `body`; the sentence of the 422 it must get.
fn upload_refusal(client: &edge_api::Client, body: Vec<u8>) -> String {
    let err = client
        .post_bytes::<serde_json::Value>(edge_api::routes::APPS_UPLOAD, "application/x-tar", body)
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Problem(p) if p.status == 422),
        "{err:?}"
    );
    err.to_string()
}

fn refused(client: &edge_api::Client, body: Vec<u8>, want: &str) {
    let text = upload_refusal(client, body);
    assert!(text.contains(want), "wanted `{want}` in: {text}");
}

#[test]
fn header_and_gzip_bombs_are_refused_naming_the_cap_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    let client = co.client(Some(&co.token));
    let mut sentences = Vec::new();
    for (flag, what) in [(b'L', "GNU long name"), (b'x', "PAX header")] {
        let body = bomb(flag, 4 << 30);
        assert!(body.len() < 2 << 20, "{what}: {} bytes", body.len());
        sentences.push((upload_refusal(&client, body), "over the cap of 65536 bytes"));
    }
    // A regular file declaring a gigabyte of zeros.
    let body = bomb(b'0', INFLATED);
    sentences.push((
        upload_refusal(&client, body),
        "more than 67108864 bytes of content",
    ));
    let peak = peak_kb(&co.data);
    assert!(
        peak < MAX_RESIDENT_KB,
        "the CO peaked at {peak} kB resident"
    );
    for (text, want) in sentences {
        assert!(text.contains(want), "wanted `{want}` in: {text}");
    }
    let apps: serde_json::Value = client.get(edge_api::routes::APPS).unwrap();
    assert_eq!(apps, serde_json::json!([]), "nothing stored");
}

#[test]
fn compose_archives_and_images_refuse_the_same_bombs_naming_the_cap() {
    for flag in [b'L', b'K', b'x', b'g'] {
        let body = bomb(flag, 4 << 30);
        let e = archive::check_compose(&body, Limits::default()).unwrap_err();
        assert!(e.to_string().contains("over the cap of 65536 bytes"), "{e}");
        let e = edge_workspace::image::compose_images(&body).unwrap_err();
        assert!(e.to_string().contains("over the cap of 65536 bytes"), "{e}");
        let dest = tempfile::tempdir().unwrap();
        let e =
            archive::unpack_compose(&body, &dest.path().join("p"), Limits::default()).unwrap_err();
        assert!(e.to_string().contains("over the cap"), "{e}");
        assert!(!dest.path().join("p").exists());
    }
}

#[test]
fn traversal_links_and_devices_in_an_upload_are_refused_and_nothing_is_stored() {
    use tar::EntryType;
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    let client = co.client(Some(&co.token));
    let inside = "stay inside the package";
    let no_links = "no links or devices";
    for (name, kind, link, want) in [
        ("../escape", EntryType::Regular, None, inside),
        ("/etc/escape", EntryType::Regular, None, inside),
        ("a/../../escape", EntryType::Regular, None, inside),
        ("link", EntryType::Symlink, Some("/etc/passwd"), no_links),
        ("hard", EntryType::Link, Some("/etc/passwd"), no_links),
        ("dev", EntryType::Char, None, no_links),
        ("blk", EntryType::Block, None, no_links),
        ("fifo", EntryType::Fifo, None, no_links),
    ] {
        refused(&client, hostile(name, kind, link), want);
    }
    let apps: serde_json::Value = client.get(edge_api::routes::APPS).unwrap();
    assert_eq!(apps, serde_json::json!([]), "nothing stored");
    assert!(!co.data.join("../escape").exists());
    let staging = std::fs::read_dir(co.data.join("staging")).unwrap().count();
    assert_eq!(staging, 0, "the staging folder is left empty");
}
