//! Application packages through a real OCI registry: every fixture package
//! survives push and pull byte for byte, and pull refuses what a hostile or
//! broken registry could serve (tampered blobs, foreign artifacts, escaping
//! titles, oversized layers) without leaving files behind.
//!
//! Each test starts its own Debian `docker-registry` on loopback (see
//! `edge_tests::registry`) and talks to nothing else; the registry is killed
//! when the test ends.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use edge_tests::registry::{self, Registry};
use edge_workspace::check_package;
use edge_workspace::oci::{
    self, ARTIFACT_TYPE, DESCRIPTION_MEDIA_TYPE, EMPTY_DIGEST, EMPTY_MEDIA_TYPE, FILE_MEDIA_TYPE,
    MODE_ANNOTATION, OciError, RESOURCE_ANNOTATION, Registries, TITLE_ANNOTATION,
};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn start() -> (Registry, Registries) {
    let reg = registry::start().expect("start docker-registry");
    let registries = Registries {
        insecure: vec![reg.addr.clone()],
        ..Registries::default()
    };
    (reg, registries)
}

/// Every regular file below `dir`: relative path → (bytes, executable).
fn tree(dir: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                assert!(meta.is_file(), "{} is not a regular file", path.display());
                let rel = path.strip_prefix(dir).unwrap().to_str().unwrap().to_owned();
                let exec = meta.permissions().mode() & 0o111 != 0;
                out.insert(rel, (fs::read(&path).unwrap(), exec));
            }
        }
    }
    out
}

fn raw_client() -> Client {
    Client::try_from(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    })
    .unwrap()
}

async fn manifest_of(reference: &str) -> OciImageManifest {
    let image: Reference = reference.parse().unwrap();
    let (body, _) = raw_client()
        .pull_manifest_raw(&image, &RegistryAuth::Anonymous, &[OCI_IMAGE_MEDIA_TYPE])
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// A layer for a hand-made manifest: bytes, media type, title, and the size
/// to declare (`None`: the true size).
struct Layer {
    data: Vec<u8>,
    media_type: &'static str,
    title: &'static str,
    declared: Option<i64>,
}

fn layer(data: &[u8], media_type: &'static str, title: &'static str) -> Layer {
    Layer {
        data: data.to_vec(),
        media_type,
        title,
        declared: None,
    }
}

fn description() -> Layer {
    let bytes = fs::read(fixtures().join("packages/hello-helm/margo.yaml")).unwrap();
    layer(&bytes, DESCRIPTION_MEDIA_TYPE, "margo.yaml")
}

/// Push blobs and a manifest by hand, bypassing every check of `push_package`.
async fn push_raw(reference: &str, artifact_type: &str, layers: Vec<Layer>) {
    let client = raw_client();
    let image: Reference = reference.parse().unwrap();
    client
        .push_blob(&image, b"{}".to_vec(), EMPTY_DIGEST)
        .await
        .unwrap();
    let mut descriptors = Vec::new();
    for l in layers {
        let digest = edge_model::digest::sha256(&l.data).to_string();
        client
            .push_blob(&image, l.data.clone(), &digest)
            .await
            .unwrap();
        descriptors.push(OciDescriptor {
            media_type: l.media_type.to_owned(),
            digest,
            size: l.declared.unwrap_or(l.data.len() as i64),
            urls: None,
            annotations: Some(BTreeMap::from([(
                TITLE_ANNOTATION.to_owned(),
                l.title.to_owned(),
            )])),
            artifact_type: None,
        });
    }
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
        config: OciDescriptor {
            media_type: EMPTY_MEDIA_TYPE.to_owned(),
            digest: EMPTY_DIGEST.to_owned(),
            size: 2,
            ..OciDescriptor::default()
        },
        layers: descriptors,
        subject: None,
        artifact_type: Some(artifact_type.to_owned()),
        annotations: None,
    };
    client
        .push_manifest_raw(
            &image,
            serde_json::to_vec(&manifest).unwrap(),
            OCI_IMAGE_MEDIA_TYPE.parse().unwrap(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn every_fixture_package_round_trips() {
    let (reg, registries) = start();
    let mut names: Vec<_> = fs::read_dir(fixtures().join("packages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("margo.yaml").is_file())
        .collect();
    names.sort();
    assert!(names.len() >= 4, "fixture packages missing: {names:?}");
    for dir in names {
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let version = check_package(&dir)
            .unwrap()
            .description
            .unwrap()
            .metadata
            .version;
        // No tag: the version becomes the tag.
        let pushed = oci::push_package(&dir, &format!("{}/apps/{name}", reg.addr), &registries)
            .await
            .unwrap_or_else(|e| panic!("push {name}: {e}"));
        let reference = format!("oci://{}/apps/{name}:{version}", reg.addr);

        let scratch = tempfile::tempdir().unwrap();
        let dest = scratch.path().join("pulled");
        let pulled = oci::pull_package(&reference, &dest, &registries)
            .await
            .unwrap_or_else(|e| panic!("pull {name}: {e}"));
        assert_eq!(pulled.manifest_digest, pushed, "{name}");
        assert_eq!(pulled.tag.as_deref(), Some(version.as_str()));

        let want = tree(&dir);
        let got = tree(&dest);
        assert_eq!(pulled.layers, want.len(), "{name}");
        assert_eq!(
            want.keys().collect::<Vec<_>>(),
            got.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for (path, (bytes, exec)) in &want {
            let (got_bytes, got_exec) = &got[path];
            assert!(bytes == got_bytes, "{name}: `{path}` differs");
            assert_eq!(exec, got_exec, "{name}: exec bit of `{path}`");
        }
        let check = check_package(&dest).unwrap();
        assert!(check.report.is_valid(), "{name}: {:?}", check.report.errors);

        // The Margo layout, as another tool would read it.
        let m = manifest_of(&reference["oci://".len()..]).await;
        assert_eq!(m.artifact_type.as_deref(), Some(ARTIFACT_TYPE));
        assert_eq!(m.config.media_type, EMPTY_MEDIA_TYPE);
        assert_eq!(m.config.digest, EMPTY_DIGEST);
        assert_eq!(m.config.size, 2);
        let ann = m.annotations.unwrap();
        assert_eq!(ann["org.opencontainers.image.version"], version);
        let title = |d: &OciDescriptor| d.annotations.as_ref().unwrap()[TITLE_ANNOTATION].clone();
        assert_eq!(m.layers[0].media_type, DESCRIPTION_MEDIA_TYPE);
        assert_eq!(title(&m.layers[0]), "margo.yaml");
        for d in &m.layers[1..] {
            let a = d.annotations.as_ref().unwrap();
            assert!(a.contains_key(MODE_ANNOTATION));
            match a.get(RESOURCE_ANNOTATION) {
                Some(field) => {
                    let prefix = format!("application/vnd.margo.app.{field}.v1+");
                    assert!(d.media_type.starts_with(&prefix), "{}", d.media_type);
                    assert!(title(d).starts_with("resources/"), "{}", title(d));
                }
                None => assert_eq!(d.media_type, FILE_MEDIA_TYPE),
            }
        }
        if name == "hello-helm" {
            let types: Vec<_> = m.layers.iter().map(|d| d.media_type.as_str()).collect();
            for t in [
                "application/vnd.margo.app.icon.v1+png",
                "application/vnd.margo.app.descriptionFile.v1+markdown",
                "application/vnd.margo.app.licenseFile.v1+pdf",
                "application/vnd.margo.app.releaseNotes.v1+markdown",
            ] {
                assert!(types.contains(&t), "{t} missing from {types:?}");
            }
        }
    }
}

#[tokio::test]
async fn pull_refuses_a_tampered_blob_and_cleans_up() {
    let (reg, registries) = start();
    let dir = fixtures().join("packages/hello-wasm");
    oci::push_package(&dir, &format!("{}/apps/wasm:1.0.0", reg.addr), &registries)
        .await
        .unwrap();
    let m = manifest_of(&format!("{}/apps/wasm:1.0.0", reg.addr)).await;
    // The registry serves blobs from disk without rechecking: flip one byte
    // of the module, keeping its size.
    let victim = m
        .layers
        .iter()
        .find(|d| d.annotations.as_ref().unwrap()[TITLE_ANNOTATION] == "components/hello.wat")
        .unwrap();
    let blob = reg.blob_path(&victim.digest);
    let mut bytes = fs::read(&blob).unwrap();
    bytes[0] ^= 0x20;
    fs::write(&blob, bytes).unwrap();

    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("pulled");
    let err = oci::pull_package(&format!("{}/apps/wasm:1.0.0", reg.addr), &dest, &registries)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OciError::DigestMismatch { title, .. } if title == "components/hello.wat"),
        "{err}"
    );
    assert!(err.to_string().contains("`components/hello.wat`"), "{err}");
    assert!(!dest.exists(), "a failed pull left files behind");

    // An existing empty destination stays, emptied.
    fs::create_dir(&dest).unwrap();
    oci::pull_package(&format!("{}/apps/wasm:1.0.0", reg.addr), &dest, &registries)
        .await
        .unwrap_err();
    assert_eq!(fs::read_dir(&dest).unwrap().count(), 0);
}

#[tokio::test]
async fn pull_refuses_a_foreign_artifact() {
    let (reg, registries) = start();
    let reference = format!("{}/other/thing:1.0.0", reg.addr);
    push_raw(
        &reference,
        "application/vnd.example.thing.v1+json",
        vec![description()],
    )
    .await;
    let scratch = tempfile::tempdir().unwrap();
    let err = oci::pull_package(&reference, &scratch.path().join("x"), &registries)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::NotAPackage { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("application/vnd.example.thing.v1+json"),
        "{err}"
    );
}

#[tokio::test]
async fn pull_refuses_escaping_and_malformed_layers() {
    let (reg, registries) = start();
    let scratch = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<Layer>, &str)> = vec![
        (
            "traversal",
            vec![description(), layer(b"evil", FILE_MEDIA_TYPE, "../evil")],
            "`../evil`",
        ),
        (
            "absolute",
            vec![description(), layer(b"evil", FILE_MEDIA_TYPE, "/tmp/evil")],
            "`/tmp/evil`",
        ),
        (
            "duplicate",
            vec![
                description(),
                layer(b"a", FILE_MEDIA_TYPE, "x"),
                layer(b"b", FILE_MEDIA_TYPE, "./x"),
            ],
            "same title",
        ),
        (
            "no-description",
            vec![layer(b"a", FILE_MEDIA_TYPE, "x")],
            "0 description layers",
        ),
        (
            "two-descriptions",
            vec![
                description(),
                layer(b"kind: x", DESCRIPTION_MEDIA_TYPE, "other.yaml"),
            ],
            "must be titled `margo.yaml`",
        ),
        (
            "huge-layer",
            vec![
                description(),
                Layer {
                    declared: Some(65 * 1024 * 1024),
                    ..layer(b"small", FILE_MEDIA_TYPE, "big")
                },
            ],
            "too large",
        ),
        (
            "short-declared",
            vec![
                description(),
                Layer {
                    declared: Some(3),
                    ..layer(b"longer than three", FILE_MEDIA_TYPE, "short")
                },
            ],
            "more than the 3 bytes",
        ),
    ];
    for (repo, layers, says) in cases {
        let reference = format!("{}/bad/{repo}:1.0.0", reg.addr);
        push_raw(&reference, ARTIFACT_TYPE, layers).await;
        let dest = scratch.path().join(repo).join("pulled");
        let err = oci::pull_package(&reference, &dest, &registries)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(says), "{repo}: {err}");
        assert!(!dest.exists(), "{repo}: a refused pull left files behind");
    }
    assert!(!scratch.path().join("traversal/evil").exists());
}

#[tokio::test]
async fn pull_reports_missing_tags_and_unreachable_registries() {
    let (reg, registries) = start();
    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("pulled");

    let missing = format!("{}/apps/nothing:9.9.9", reg.addr);
    let err = oci::pull_package(&missing, &dest, &registries)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("apps/nothing:9.9.9"), "{err}");

    let dir = fixtures().join("packages/hello-wasm");
    oci::push_package(&dir, &format!("{}/apps/wasm", reg.addr), &registries)
        .await
        .unwrap();
    let err = oci::pull_package(&format!("{}/apps/wasm:2.0.0", reg.addr), &dest, &registries)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::NotFound { .. }), "{err}");

    let err = oci::pull_package(&format!("{}/apps/wasm", reg.addr), &dest, &registries)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::NoTag { .. }), "{err}");
    assert!(!dest.exists());

    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let registries = Registries {
        insecure: vec![closed.clone()],
        ..Registries::default()
    };
    let started = Instant::now();
    let err = oci::pull_package(&format!("{closed}/apps/wasm:1.0.0"), &dest, &registries)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(12));
    assert!(
        matches!(&err, OciError::Unreachable { registry, .. } if *registry == closed),
        "{err}"
    );
    assert!(err.to_string().contains(&closed), "{err}");
}

#[tokio::test]
async fn pull_refuses_a_destination_in_use() {
    let (reg, registries) = start();
    let dir = fixtures().join("packages/hello-process");
    oci::push_package(&dir, &format!("{}/apps/p:1.0.0", reg.addr), &registries)
        .await
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    fs::write(scratch.path().join("keep.txt"), b"mine").unwrap();
    let err = oci::pull_package(
        &format!("{}/apps/p:1.0.0", reg.addr),
        scratch.path(),
        &registries,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OciError::Destination { .. }), "{err}");
    assert_eq!(fs::read(scratch.path().join("keep.txt")).unwrap(), b"mine");
}

#[tokio::test]
async fn push_refuses_invalid_packages_and_wrong_tags() {
    let (reg, registries) = start();
    let invalid = fixtures().join("invalid/missing-resource-file");
    let err = oci::push_package(
        &invalid,
        &format!("{}/apps/bad:1.0.0", reg.addr),
        &registries,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OciError::InvalidPackage { .. }), "{err}");
    assert!(
        err.to_string().contains("metadata.catalog.application"),
        "{err}"
    );

    let dir = fixtures().join("packages/hello-wasm");
    let err = oci::push_package(&dir, &format!("{}/apps/wasm:2.0.0", reg.addr), &registries)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::TagMismatch { .. }), "{err}");
    assert!(err.to_string().contains("`1.0.0`"), "{err}");

    // Nothing reached the registry.
    for r in ["apps/bad:1.0.0", "apps/wasm:2.0.0", "apps/wasm:1.0.0"] {
        let image: Reference = format!("{}/{r}", reg.addr).parse().unwrap();
        assert!(
            raw_client()
                .pull_manifest_raw(&image, &RegistryAuth::Anonymous, &[OCI_IMAGE_MEDIA_TYPE])
                .await
                .is_err(),
            "{r} exists"
        );
    }
}
