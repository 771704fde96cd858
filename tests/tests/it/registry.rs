//! The LO as an OCI registry for its site, with real clients: a real CO and
//! LO, hello-wasm deployed to edge-1, and the LO's read-only OCI
//! Distribution API asked over its mutual TLS by a Rust client (every
//! header, range and error code checked), by `skopeo` (Debian's, an
//! independent Go implementation of the protocol: `inspect` and `copy` of
//! the package-local artifact with the device's certificate in a
//! `--cert-dir`, the LO verified by the host name its certificate names,
//! `edgectl co enroll --lo --name`), and by another device of the same site, which is served
//! none of it. The deployment the LO serves names the artifact as a
//! standard reference into the LO (`oci://127.0.0.1:PORT/hello-wasm/hello`,
//! the host its certificate names): skopeo fetches exactly that reference,
//! and our node installs it through the registry, its report tied to the
//! document the CO wrote.

use std::path::{Path, PathBuf};
use std::process::Command;

use edge_model::MargoDocument as _;
use edge_model::digest::sha256;
use edge_tests::co::{fails, ok};
use edge_tests::en::En;
use edge_tests::fleet::{Fleet, deploy_hello, fleet, manifest_with, wait_state};
use edge_tests::lo::{Lo, Margo, Reply};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// The OCI error code of a reply, checking the spec's error shape.
fn code(r: &Reply) -> String {
    let v = r.json();
    let e = &v["errors"][0];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an OCI error with a message: {}",
        String::from_utf8_lossy(&r.body)
    );
    e["code"].as_str().unwrap_or_default().to_owned()
}

/// A folder as podman's `--cert-dir` and skopeo's `--cert-dir` read it:
/// the device's certificate and key, and the CA.
pub(crate) fn cert_dir(creds: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    std::fs::copy(creds.join("identity.crt"), to.join("client.cert")).unwrap();
    std::fs::copy(creds.join("identity.key"), to.join("client.key")).unwrap();
    std::fs::copy(creds.join("ca.crt"), to.join("ca.crt")).unwrap();
    to.to_path_buf()
}

/// `skopeo ARGS`, its output.
fn skopeo(args: &[&str]) -> std::process::Output {
    Command::new("skopeo")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run skopeo (scripts/test installs it): {e}"))
}

struct Scene {
    f: Fleet,
    lo: Lo,
    m1: Margo,
    /// The module's bytes and digest.
    module: Vec<u8>,
    digest: String,
}

fn scene() -> Scene {
    let f = fleet();
    let _ = deploy_hello(&f.co, "edge-1");
    // The LO enrolled again naming the address OCI clients dial, so they
    // can verify it by host name (the earlier identity is revoked).
    let named = f.dir.path().join("lo-named");
    ok(&f.co.edgectl(&[
        "co",
        "enroll",
        "--site",
        "plant-1",
        "--lo",
        "--name",
        "127.0.0.1",
        "--out",
        named.to_str().unwrap(),
    ]));
    let lo = Lo::start(&named, &f.dir.path().join("lo"), &[]);
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let (v, _) = manifest_with(&m1, 1, || lo.log());
    let module = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/packages/hello-wasm/components/hello.wat"),
    )
    .unwrap();
    let digest = sha256(&module).to_string();
    let doc = m1.get(v["deployments"][0]["url"].as_str().unwrap(), &[]);
    assert!(
        String::from_utf8_lossy(&doc.body).contains(&digest),
        "the deployment names the module's digest"
    );
    Scene {
        f,
        lo,
        m1,
        module,
        digest,
    }
}

#[test]
fn the_lo_serves_a_package_local_artifact_as_an_oci_registry() {
    let s = scene();
    let manifest_digest = a_rust_client_pulls_it(&s);
    errors_are_the_specs(&s);
    another_device_is_served_none_of_it(&s, &manifest_digest);
    skopeo_pulls_it(&s, &manifest_digest);
}

#[test]
fn a_served_deployment_names_its_artifact_in_the_lo_and_a_node_installs_it() {
    let s = scene();
    let (v, _) = manifest_with(&s.m1, 1, || s.lo.log());
    let id = v["deployments"][0]["deploymentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let doc = s.m1.get(v["deployments"][0]["url"].as_str().unwrap(), &[]);
    assert_eq!(doc.status, 200);
    let d = edge_model::ApplicationDeployment::from_slice(&doc.body)
        .unwrap()
        .document;
    let c = &d.spec.deployment_profile.components[0];
    let reference = format!("oci://127.0.0.1:{}/hello-wasm/hello", s.lo.port());
    assert_eq!(
        c.properties.repository.as_deref(),
        Some(reference.as_str()),
        "{}",
        String::from_utf8_lossy(&doc.body)
    );
    assert_eq!(c.properties.revision.as_deref(), Some("1.0.0"));
    let artifact = c.artifact().expect("the digest is kept in the extension");
    assert_eq!(artifact.digest.as_str(), s.digest);
    assert_eq!(artifact.size, s.module.len() as u64);
    // The CO's document is another: the LO served its own bytes.
    let at_co = ok(&s
        .f
        .co
        .edgectl(&["co", "show", "deployment", &id, "-o", "json"]));
    assert!(!at_co.contains(&reference), "{at_co}");

    // skopeo, given exactly the served reference (as `docker://`), with
    // edge-1's certificate: the layer is the module.
    let certs = cert_dir(&s.f.d1, &s.f.dir.path().join("certs-ref"));
    let at = format!(
        "docker://{}:{}",
        reference.trim_start_matches("oci://"),
        c.properties.revision.as_deref().unwrap()
    );
    let raw = skopeo(&[
        "inspect",
        "--raw",
        &format!("--cert-dir={}", certs.display()),
        &at,
    ]);
    assert!(
        raw.status.success(),
        "{at}: {}\n--- LO\n{}",
        String::from_utf8_lossy(&raw.stderr),
        s.lo.log()
    );
    let m: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(m["layers"][0]["digest"], s.digest.as_str());
    let out = s.f.dir.path().join("copied-ref");
    let copy = skopeo(&[
        "copy",
        &format!("--src-cert-dir={}", certs.display()),
        &at,
        &format!("dir:{}", out.display()),
    ]);
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );
    let hex = s.digest.trim_start_matches("sha256:");
    assert_eq!(std::fs::read(out.join(hex)).unwrap(), s.module);

    // Our node pulls it through the registry (no fallback to the blob
    // route) and runs it; the CO sees it installed, the report tied to the
    // document it wrote.
    let en = En::start(&s.f.d1, &s.f.dir.path().join("en"), &s.lo.url, &[]);
    wait_state(&s.f.co, &id, "installed", || {
        format!("--- node\n{}\n--- LO\n{}", en.log(), s.lo.log())
    });
    let log = en.log();
    assert!(
        !log.contains("serves no such manifest"),
        "the node took the registry path: {log}"
    );
}

/// Base, manifest by tag and by digest (GET and HEAD), the config and the
/// layer (whole, a range, past the end), the tag list.
fn a_rust_client_pulls_it(s: &Scene) -> String {
    let m = &s.m1;
    let base = m.get("/v2/", &[]);
    assert_eq!(base.status, 200);
    assert_eq!(
        base.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );

    let r = m.get("/v2/hello-wasm/hello/manifests/1.0.0", &[]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
    let digest = sha256(&r.body).to_string();
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    let v = r.json();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["mediaType"], OCI_MANIFEST);
    assert_eq!(v["config"]["digest"], EMPTY_DIGEST);
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{v}");
    assert_eq!(layers[0]["digest"], s.digest.as_str());
    assert_eq!(layers[0]["size"], s.module.len());
    assert_eq!(
        layers[0]["annotations"]["org.opencontainers.image.title"],
        "hello.wat"
    );

    let again = m.get(&format!("/v2/hello-wasm/hello/manifests/{digest}"), &[]);
    assert_eq!(again.status, 200);
    assert_eq!(again.body, r.body, "the same bytes by digest");
    assert!(again.header("cache-control").unwrap().contains("immutable"));
    let head = m
        .send("HEAD", "/v2/hello-wasm/hello/manifests/1.0.0", &[], None)
        .unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        head.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );

    let config = m.get(&format!("/v2/hello-wasm/hello/blobs/{EMPTY_DIGEST}"), &[]);
    assert_eq!((config.status, config.body.as_slice()), (200, &b"{}"[..]));
    let path = format!("/v2/hello-wasm/hello/blobs/{}", s.digest);
    let layer = m.get(&path, &[]);
    assert_eq!(layer.status, 200);
    assert_eq!(layer.body, s.module);
    assert_eq!(
        layer.header("docker-content-digest"),
        Some(s.digest.as_str())
    );
    let head = m.send("HEAD", &path, &[], None).unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(s.module.len().to_string().as_str())
    );
    let part = m.get(&path, &[("range", "bytes=3-9")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, s.module[3..=9]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 3-9/{}", s.module.len()).as_str())
    );
    let past = m.get(&path, &[("range", &format!("bytes={}-", s.module.len()))]);
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{}", s.module.len()).as_str())
    );
    // The blob route edge nodes used before, under the app's name.
    let by_app = m.get(&format!("/v2/hello-wasm/blobs/{}", s.digest), &[]);
    assert_eq!((by_app.status, &by_app.body), (200, &s.module));

    let tags = m.get("/v2/hello-wasm/hello/tags/list", &[]);
    assert_eq!(tags.status, 200);
    assert_eq!(
        tags.json(),
        serde_json::json!({"name": "hello-wasm/hello", "tags": ["1.0.0"]})
    );
    digest
}

fn errors_are_the_specs(s: &Scene) {
    let m = &s.m1;
    for (method, path, status, want) in [
        (
            "GET",
            "/v2/Hello/hello/manifests/1.0.0",
            400,
            "NAME_INVALID",
        ),
        (
            "GET",
            "/v2/hello-wasm//hello/manifests/1.0.0",
            400,
            "NAME_INVALID",
        ),
        (
            "GET",
            "/v2/hello-wasm/hello/manifests/2.0.0",
            404,
            "MANIFEST_UNKNOWN",
        ),
        (
            "GET",
            "/v2/hello-wasm/other/manifests/1.0.0",
            404,
            "MANIFEST_UNKNOWN",
        ),
        (
            "GET",
            "/v2/hello-wasm/hello/manifests/sha256:12",
            400,
            "DIGEST_INVALID",
        ),
        (
            "GET",
            "/v2/hello-wasm/hello/manifests/-bad",
            400,
            "MANIFEST_INVALID",
        ),
        (
            "GET",
            "/v2/hello-wasm/hello/blobs/md5:00",
            400,
            "DIGEST_INVALID",
        ),
        ("GET", "/v2/hello-wasm/hello/uploads/x", 404, "NAME_UNKNOWN"),
        ("GET", "/v2/nothing/here/tags/list", 404, "NAME_UNKNOWN"),
        (
            "PUT",
            "/v2/hello-wasm/hello/manifests/1.0.0",
            405,
            "UNSUPPORTED",
        ),
        (
            "POST",
            "/v2/hello-wasm/hello/blobs/uploads/",
            405,
            "UNSUPPORTED",
        ),
        (
            "DELETE",
            &format!("/v2/hello-wasm/hello/blobs/{}", s.digest),
            405,
            "UNSUPPORTED",
        ),
    ] {
        let r = m.send(method, path, &[], None).unwrap();
        assert_eq!(
            r.status,
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(code(&r), want, "{method} {path}");
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("application/json")
        );
    }
    // A blob of the site that this name's manifests do not name.
    let other = sha256(b"not an artifact of this site");
    let r = m.get(&format!("/v2/hello-wasm/hello/blobs/{other}"), &[]);
    assert_eq!((r.status, code(&r).as_str()), (404, "BLOB_UNKNOWN"));
    // The refusals left the registry serving.
    assert_eq!(
        m.get("/v2/hello-wasm/hello/manifests/1.0.0", &[]).status,
        200
    );
}

/// edge-2, at the same LO with nothing deployed, gets nothing of edge-1's:
/// no manifest by tag or digest, no blob under any name.
fn another_device_is_served_none_of_it(s: &Scene, manifest_digest: &str) {
    let m2 = Margo::new(&s.f.d2, &s.lo.url, "plant-1");
    assert_eq!(m2.get("/v2/", &[]).status, 200);
    for path in [
        "/v2/hello-wasm/hello/manifests/1.0.0".to_owned(),
        format!("/v2/hello-wasm/hello/manifests/{manifest_digest}"),
        format!("/v2/hello-wasm/hello/blobs/{}", s.digest),
        format!("/v2/hello-wasm/blobs/{}", s.digest),
        format!("/v2/hello-wasm/hello/blobs/{EMPTY_DIGEST}"),
        "/v2/hello-wasm/hello/tags/list".to_owned(),
    ] {
        let r = m2.get(&path, &[]);
        assert_eq!(
            r.status,
            404,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(code(&r).ends_with("_UNKNOWN"), "{path}");
    }
}

/// skopeo, with edge-1's identity in a cert folder: the manifest is the
/// same bytes, and a copy holds the module; without a certificate the
/// handshake refuses it, and with edge-2's it is told the manifest is unknown.
fn skopeo_pulls_it(s: &Scene, manifest_digest: &str) {
    let dir = s.f.dir.path();
    let certs = cert_dir(&s.f.d1, &dir.join("certs-1"));
    let at = format!("docker://127.0.0.1:{}/hello-wasm/hello:1.0.0", s.lo.port());
    let cert_arg = format!("--cert-dir={}", certs.display());
    // The server checked too: its certificate names 127.0.0.1 and chains
    // to the CA in the folder.
    let raw = skopeo(&["inspect", "--raw", &cert_arg, &at]);
    assert!(
        raw.status.success(),
        "{}\n--- LO\n{}",
        String::from_utf8_lossy(&raw.stderr),
        s.lo.log()
    );
    assert_eq!(sha256(&raw.stdout).to_string(), manifest_digest);

    let out = dir.join("copied");
    let copy = skopeo(&[
        "copy",
        &format!("--src-cert-dir={}", certs.display()),
        &at,
        &format!("dir:{}", out.display()),
    ]);
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );
    let hex = s.digest.trim_start_matches("sha256:");
    assert_eq!(std::fs::read(out.join(hex)).unwrap(), s.module);
    assert_eq!(
        sha256(&std::fs::read(out.join("manifest.json")).unwrap()).to_string(),
        manifest_digest
    );

    let bare = dir.join("no-certs");
    std::fs::create_dir_all(&bare).unwrap();
    let refused = skopeo(&[
        "inspect",
        "--raw",
        &format!("--cert-dir={}", bare.display()),
        &at,
    ]);
    assert!(!refused.status.success(), "no certificate, no registry");

    let certs2 = cert_dir(&s.f.d2, &dir.join("certs-2"));
    let other = skopeo(&[
        "inspect",
        "--raw",
        &format!("--cert-dir={}", certs2.display()),
        &at,
    ]);
    assert!(!other.status.success());
    let text = String::from_utf8_lossy(&other.stderr).to_lowercase();
    assert!(text.contains("manifest unknown"), "{text}");

    // A device's certificate names no server; an LO's takes only host names
    // and addresses.
    let refused = s.f.co.edgectl(&[
        "co",
        "enroll",
        "--site",
        "plant-1",
        "--lo",
        "--name",
        "no_such host",
        "--out",
        dir.join("bad-name").to_str().unwrap(),
    ]);
    fails(
        &refused,
        "`no_such host` is neither an IP address nor a DNS name",
    );
    assert!(!dir.join("bad-name").exists(), "nothing written");
    // Refused before anything was issued: the LO's identity still stands.
    assert_eq!(s.m1.get("/v2/", &[]).status, 200);
}
