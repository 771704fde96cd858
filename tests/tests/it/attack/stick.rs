//! Attacks through a USB stick: unsigned or re-signed content, a stick for
//! another site, a stick that drops revocations, tampered and older sticks.
//!
//! The site is an LO with no route to its CO, started from a stick the CO
//! signed; whoever carries the next stick adds a commit with a new
//! deployment and its artifact and fixes `stick.json` up, keeps the CO's
//! signature or signs with another CA, brings a stick of another site, or an
//! older or tampered one. Each is refused by `edgectl lo import` saying why,
//! with the LO's mirror unchanged; a revocation made at the CO travels on
//! the next stick and locks the device out of the air-gapped LO.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use edge_tests::co::{copy_tree, fails, git, ok};
use edge_tests::fleet::{Fleet, deploy_to, export_site, fleet, unrouted};
use edge_tests::forge;
use edge_tests::lo::{Lo, Margo};
use edge_workspace::stick::StickArtifact;

/// `edgectl lo import <stick> --data <data>` (the LO's recorded site and CA).
fn lo_import(stick: &Path, data: &Path) -> Output {
    Command::new(edge_tests::co::bin("edgectl"))
        .args(["lo", "import"])
        .arg(stick)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap()
}

fn mirror_head(lo_data: &Path) -> String {
    git(
        &lo_data.join("site.git"),
        &["rev-parse", "refs/remotes/origin/main"],
    )
    .trim()
    .to_owned()
}

/// A copy of `stick` at `to` with one more commit on `main` adding
/// `deployments/intruder.yaml` (a copy of a deployment the site has, under
/// another name) and one more artifact (a shell script) in its layout and
/// its `stick.json`, whose head is moved to the new commit; the signature
/// is left as the CO wrote it.
fn with_an_intruder(stick: &Path, to: &Path) -> PathBuf {
    copy_tree(stick, to);
    let repo = to.join("site.git");
    let run = |args: &[&str], index: &Path| {
        let o = Command::new("git")
            .arg("--git-dir")
            .arg(&repo)
            .args(args)
            .env("GIT_INDEX_FILE", index)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    let index = to.join("forged.index");
    let head = run(&["rev-parse", "refs/heads/main"], &index);
    run(&["read-tree", "refs/heads/main"], &index);
    let files = run(
        &["ls-tree", "--name-only", "refs/heads/main", "deployments/"],
        &index,
    );
    let first = files.lines().next().expect("a deployment at the head");
    let yaml = run(&["show", &format!("refs/heads/main:{first}")], &index);
    let file = to.join("intruder.yaml");
    std::fs::write(&file, yaml).unwrap();
    let blob = run(&["hash-object", "-w", file.to_str().unwrap()], &index);
    run(
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("100644,{blob},deployments/intruder.yaml"),
        ],
        &index,
    );
    let tree = run(&["write-tree"], &index);
    let commit = run(
        &[
            "-c",
            "user.name=x",
            "-c",
            "user.email=x@example.org",
            "commit-tree",
            &tree,
            "-p",
            &head,
            "-m",
            "one more deployment",
        ],
        &index,
    );
    run(&["update-ref", "refs/heads/main", &commit], &index);
    std::fs::remove_file(&index).unwrap();
    std::fs::remove_file(&file).unwrap();
    let payload = b"#!/bin/sh\nid > /tmp/owned\n";
    let digest = edge_model::digest::sha256(payload).to_string();
    edge_workspace::stick::put_blob(to, &digest, payload).unwrap();
    let mut m = forge::manifest(to);
    m.head = commit;
    m.artifacts.push(StickArtifact {
        digest,
        size: payload.len() as u64,
        media_type: "application/x-sh".into(),
        app: "intruder".into(),
        component: "intruder".into(),
        reference: None,
    });
    forge::write(to, &m);
    to.to_path_buf()
}

#[test]
fn only_a_stick_the_co_signed_for_this_site_is_taken_in() {
    let f = fleet();
    f.co.add_app("fixtures/packages/hello-process");
    deploy_to(&f.co, "hello-process", "edge-1", &[]);
    let stick = f.dir.path().join("stick");
    ok(&export_site(&f.co, &stick, &[]));
    let first = f.dir.path().join("first");
    copy_tree(&stick, &first);
    // The air-gapped site, started from the CO's stick.
    let creds = unrouted(&f.lo_creds, &f.dir.path().join("lo-creds"));
    let lo_data = f.dir.path().join("lo");
    let lo = Lo::start(&creds, &lo_data, &["--import", stick.to_str().unwrap()]);
    let head = mirror_head(&lo_data);

    a_commit_added_after_signing_is_refused(&f, &stick, &lo_data, &head);
    a_stick_of_another_site_is_refused(&f, &creds);
    a_revocation_travels_on_the_next_stick(&f, &stick, &lo_data, &lo);
    let head = mirror_head(&lo_data);
    fails(&lo_import(&first, &lo_data), "is older than what is here");
    let changed = f.dir.path().join("changed");
    copy_tree(&stick, &changed);
    let digest = forge::manifest(&changed).artifacts[0].digest.clone();
    let blob = edge_workspace::stick::blob_path(&changed, &digest);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    fails(&lo_import(&changed, &lo_data), "was changed");
    assert_eq!(mirror_head(&lo_data), head, "the LO is unchanged");
}

/// The intruder's stick, with the CO's signature left as it was, with it
/// removed, and signed again with another CA's key: each refused, the
/// mirror where it was and the intruder's artifact not stored.
fn a_commit_added_after_signing_is_refused(f: &Fleet, stick: &Path, lo_data: &Path, head: &str) {
    let forged = with_an_intruder(stick, &f.dir.path().join("forged"));
    let intruder = forge::manifest(&forged)
        .artifacts
        .last()
        .unwrap()
        .digest
        .clone();
    let stored = || {
        lo_data
            .join("artifacts/sha256")
            .join(intruder.trim_start_matches("sha256:"))
            .exists()
    };
    fails(
        &lo_import(&forged, lo_data),
        "its signature does not verify against this LO's CA",
    );
    let mut unsigned = forge::manifest(&forged);
    unsigned.signature.clear();
    forge::write(&forged, &unsigned);
    fails(&lo_import(&forged, lo_data), "it is not signed by a CO");
    forge::write_signed(&forged, unsigned, &forge::other_key());
    fails(
        &lo_import(&forged, lo_data),
        "its signature does not verify against this LO's CA",
    );
    assert_eq!(mirror_head(lo_data), head, "the LO is unchanged");
    assert!(!stored(), "the intruder's artifact was not stored");
}

/// A stick the CO signed for plant-2 into a fresh plant-1 LO: refused,
/// nothing written.
fn a_stick_of_another_site_is_refused(f: &Fleet, creds: &Path) {
    ok(&f.co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-2",
        "--device",
        "edge-9",
        "--allow-unreported",
    ]));
    let other = f.dir.path().join("plant-2-stick");
    ok(&f.co.edgectl(&[
        "co",
        "export",
        "--site",
        "plant-2",
        "--to",
        other.to_str().unwrap(),
    ]));
    let fresh = f.dir.path().join("fresh-lo");
    let lo = Lo::start(creds, &fresh, &[]);
    fails(
        &lo_import(&other, &fresh),
        "the stick holds site `plant-2`, but this LO serves site `plant-1`",
    );
    drop(lo);
    assert!(!fresh.join("pins.json").exists());
    let head = git(
        &fresh.join("site.git"),
        &["for-each-ref", "refs/remotes/origin/main"],
    );
    assert!(head.trim().is_empty(), "the mirror is still empty: {head}");
}

/// edge-2 revoked at the CO and a new deployment: the next stick carries
/// both; edge-2 is refused by the LO once it is taken in, edge-1 is not.
fn a_revocation_travels_on_the_next_stick(f: &Fleet, stick: &Path, lo_data: &Path, lo: &Lo) {
    let (m1, m2) = (
        Margo::new(&f.d1, &lo.url, "plant-1"),
        Margo::new(&f.d2, &lo.url, "plant-1"),
    );
    assert_eq!(m2.get("/api/v1/deployments", &[]).status, 200);
    ok(&f
        .co
        .edgectl(&["co", "revoke", "--site", "plant-1", "--device", "edge-2"]));
    deploy_to(&f.co, "hello-wasm", "edge-1", &[]);
    ok(&export_site(&f.co, stick, &[]));
    assert_eq!(
        m2.get("/api/v1/deployments", &[]).status,
        200,
        "nothing reached the air-gapped LO yet"
    );
    ok(&lo_import(stick, lo_data));
    let refused = m2.get("/api/v1/deployments", &[]);
    let detail = String::from_utf8_lossy(&refused.body);
    assert_eq!(refused.status, 403, "{detail}");
    assert!(detail.contains("was revoked"), "{detail}");
    assert_eq!(m1.get("/api/v1/deployments", &[]).status, 200);
}
