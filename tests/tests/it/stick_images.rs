//! Container images on a site stick, with real parts: an image pushed to
//! Debian's docker-registry under a name of this run's own, a `container`
//! app and a compose app (its `compose.yaml` naming a second such image,
//! outright and again with a variable, which the export says it cannot
//! resolve) deployed from them, `edgectl co export` pulling the images onto the
//! stick (manifest, config and layers), a stick lacking a layer refused at
//! the LO, the registry stopped and the image removed from podman, an LO
//! with no route to the CO taking the stick in, an edge node running
//! the container from the LO's copy, and podman and skopeo pulling the image
//! from the LO as from a registry mirror, another device refused.

use std::path::Path;

use edge_tests::co::{copy_tree, fails, ok};
use edge_tests::en::En;
use edge_tests::fleet::{
    Fleet, container_package, deploy_to, export_site, fleet_with, row, unrouted,
};
use edge_tests::lo::Lo;
use edge_tests::podman::{HELLO, Podman};
use edge_tests::wait::until_or;
use serde_json::Value;

/// Removes this run's images and the containers its node started, however
/// the test ends.
struct Cleanup<'a> {
    podman: &'a Podman,
    images: Vec<String>,
    data: std::path::PathBuf,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.podman.clean(&self.data);
        for image in &self.images {
            let _ = self.podman.cmd().args(["rmi", image]).output();
        }
    }
}

fn exists(podman: &Podman, image: &str) -> bool {
    podman
        .cmd()
        .args(["image", "exists", image])
        .status()
        .unwrap()
        .success()
}

/// The fleet with a container app and a compose app deployed from images
/// pushed to a registry of this test's own.
struct Scene {
    f: Fleet,
    addr: String,
    name: String,
    /// The container app's image, and its `oci://` reference.
    image: String,
    reference: String,
    /// The compose app's image, and the same named with a variable.
    composed: String,
    variable: String,
    id: String,
    compose_id: String,
}

impl Scene {
    fn export(&self, to: &Path, extra: &[&str]) -> std::process::Output {
        export_site(&self.f.co, to, extra)
    }
}

#[test]
fn a_container_image_travels_on_the_stick_and_runs_with_the_registry_gone() {
    let podman = Podman::setup();
    let registry = edge_tests::registry::start().unwrap();
    let s = deploy_both_apps(&podman, &registry.addr);
    let _cleanup = Cleanup {
        podman: &podman,
        images: vec![s.image.clone(), s.composed.clone()],
        data: s.f.dir.path().join("en"),
    };
    let stick = s.f.dir.path().join("stick");
    let manifest = export_carries_the_image(&s, &stick);
    a_stick_lacking_a_layer_is_refused(&s, &stick, &manifest);
    drop(registry);
    without_the_registry_export_fails_or_skips_images(&s);
    for i in [&s.image, &s.composed] {
        let _ = podman.cmd().args(["rmi", i]).output();
        assert!(!exists(&podman, i), "{i}");
    }
    let top = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["reference"] == s.reference.as_str())
        .unwrap()
        .clone();
    the_site_runs_both_from_the_lo_copy(&s, &podman, &stick, &top);
}

/// Both images pushed, the fleet's CO trusting the registry, and both apps
/// deployed to edge-1.
fn deploy_both_apps(podman: &Podman, addr: &str) -> Scene {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("stick/hello-{}-{nanos}", std::process::id());
    let image = format!("{addr}/{name}:1.0.0");
    let composed = format!("{addr}/{name}-compose:1.0.0");
    podman.push(HELLO, addr, &format!("{name}:1.0.0"));
    podman.push(HELLO, addr, &format!("{name}-compose:1.0.0"));
    let f = fleet_with(&["--insecure-registries", addr]);

    let pkg = container_package(f.dir.path(), &format!("{addr}/{name}"));
    ok(&f
        .co
        .edgectl(&["co", "add", "app", "--artifact", pkg.to_str().unwrap()]));
    let id = deploy_to(
        &f.co,
        "hello-container",
        "edge-1",
        &["--set", "greeting=carried on a stick"],
    );
    // A compose app whose compose.yaml names the second image.
    let compose_pkg = f.dir.path().join("hello-compose");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/packages/hello-compose"),
        &compose_pkg,
    );
    let file = compose_pkg.join("components/hello/compose.yaml");
    // A second service names the same image with a variable: the export
    // cannot resolve it (it says so) yet carries the other; podman-compose
    // resolves it at the site to the image taken in for the first.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("docker.io/library/busybox:1.36", &composed);
    let variable = format!("{addr}/{name}-compose:${{TAG:-1.0.0}}");
    let text = format!(
        "{text}  side:\n    image: {variable}\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n"
    );
    std::fs::write(&file, text).unwrap();
    f.co.add_app(compose_pkg.to_str().unwrap());
    let compose_id = deploy_to(
        &f.co,
        "hello-compose",
        "edge-1",
        &["--set", "greeting=composed on a stick"],
    );
    Scene {
        f,
        addr: addr.to_owned(),
        reference: format!("oci://{image}"),
        name,
        image,
        composed,
        variable,
        id,
        compose_id,
    }
}

/// Exported while the registry is up: the CO pulls the whole image (manifest,
/// config, layers) and indexes it under its reference. Returns `stick.json`.
fn export_carries_the_image(s: &Scene, stick: &Path) -> Value {
    let exported = s.export(stick, &[]);
    let out = ok(&exported);
    assert!(out.contains("pulled from registries"), "{out}");
    let warned = String::from_utf8_lossy(&exported.stderr);
    assert!(
        warned.contains(&format!("{} (service `side`", s.variable))
            && warned.contains("cannot be resolved at export"),
        "{warned}"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(stick.join("stick.json")).unwrap()).unwrap();
    let artifacts = manifest["artifacts"].as_array().unwrap();
    let top = artifacts
        .iter()
        .find(|a| a["reference"] == s.reference.as_str())
        .unwrap_or_else(|| panic!("no artifact for {}: {manifest}", s.reference));
    let top_type = top["mediaType"].as_str().unwrap();
    assert!(top_type.contains("manifest"), "{top_type}");
    assert!(
        artifacts.len() >= 3,
        "manifest, config and a layer: {manifest}"
    );
    let index: Value =
        serde_json::from_slice(&std::fs::read(stick.join("oci/index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["annotations"]["org.edgectl.reference"] == s.reference.as_str())
        .unwrap_or_else(|| panic!("{} not in {index}", s.reference));
    assert_eq!(entry["digest"], top["digest"]);
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        s.image.as_str()
    );
    assert_eq!(
        entry["annotations"]["org.edgectl.reference"],
        s.reference.as_str()
    );
    manifest
}

/// A stick whose image lacks a layer is refused, naming it, and the data
/// folder is left as it was.
fn a_stick_lacking_a_layer_is_refused(s: &Scene, stick: &Path, manifest: &Value) {
    let lacking = s.f.dir.path().join("lacking");
    copy_tree(stick, &lacking);
    let mut cut = manifest.clone();
    let layer = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            let t = a["mediaType"].as_str().unwrap();
            t.contains("layer") || t.contains("rootfs")
        })
        .unwrap_or_else(|| panic!("no layer: {manifest}"));
    let layer_digest = layer["digest"].as_str().unwrap().to_owned();
    assert!(layer["reference"].is_null(), "{layer}");
    cut["artifacts"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a["digest"] != layer_digest.as_str());
    std::fs::write(lacking.join("stick.json"), cut.to_string()).unwrap();
    // Signed again with the CO's key: the image check is what refuses it.
    let resigned = edge_tests::forge::manifest(&lacking);
    edge_tests::forge::write_signed(&lacking, resigned, &edge_tests::forge::ca_key(&s.f.co.data));
    std::fs::remove_file(
        lacking
            .join("oci/blobs/sha256")
            .join(layer_digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    let scratch = s.f.dir.path().join("scratch");
    let import = std::process::Command::new(edge_tests::co::bin("edgectl"))
        .args(["lo", "import"])
        .arg(&lacking)
        .arg("--data")
        .arg(&scratch)
        .arg("--credentials")
        .arg(&s.f.lo_creds)
        .output()
        .unwrap();
    // Both images share the layer; the first checked is named.
    fails(
        &import,
        &format!("-compose:1.0.0` names the blob {layer_digest}"),
    );
    assert!(!scratch.join("pins.json").exists() && !scratch.join("site.git").exists());
}

/// The registry gone: an export fails naming the image, or leaves it out
/// with --skip-images, warning for each.
fn without_the_registry_export_fails_or_skips_images(s: &Scene) {
    let later = s.f.dir.path().join("later");
    // Which image is named first depends on the deployments' order.
    fails(
        &s.export(&later, &[]),
        &format!("cannot put the image `oci://{}/{}", s.addr, s.name),
    );
    let skipped = s.export(&later, &["--skip-images"]);
    let out = ok(&skipped);
    assert!(!out.contains("pulled from registries"), "{out}");
    let warned = String::from_utf8_lossy(&skipped.stderr);
    for (i, app) in [
        (&s.image, "hello-container"),
        (&s.composed, "hello-compose"),
    ] {
        assert!(
            warned.contains(&format!(
                "{i} (component `hello` of app `{app}`) comes from a registry and is not on the stick"
            )),
            "{warned}"
        );
    }
}

/// The site: an LO with no route to the CO takes the stick in; with the
/// registry gone and podman without the images, the node loads both from
/// the LO's copy and runs them.
fn the_site_runs_both_from_the_lo_copy(s: &Scene, podman: &Podman, stick: &Path, top: &Value) {
    let f = &s.f;
    let creds = unrouted(&f.lo_creds, &f.dir.path().join("lo-creds"));
    let lo_data = f.dir.path().join("lo");
    let lo = Lo::start(&creds, &lo_data, &["--import", stick.to_str().unwrap()]);
    let pins: Value =
        serde_json::from_slice(&std::fs::read(lo_data.join("pins.json")).unwrap()).unwrap();
    assert_eq!(pins["pins"][s.reference.as_str()]["digest"], top["digest"]);
    let en = En::start_with_env(
        &f.d1,
        &f.dir.path().join("en"),
        &lo.url,
        &[],
        &[("CONTAINERS_CONF", podman.conf.as_path())],
    );
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    until_or(
        "the container from the LO's copy installed",
        || row(&en, &s.id).filter(|r| r["state"] == "installed"),
        log,
    );
    until_or(
        "the greeting in the container's log",
        || {
            ok(&en.edgectl(&["logs", "hello-container"]))
                .contains("hello from edgectl container: carried on a stick")
                .then_some(())
        },
        log,
    );
    assert!(
        exists(podman, &s.image),
        "podman holds the image under its reference"
    );
    until_or(
        "the compose app from the LO's copy installed",
        || row(&en, &s.compose_id).filter(|r| r["state"] == "installed"),
        log,
    );
    let short: String = s
        .compose_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    let names: Vec<String> = podman
        .names(&format!("com.docker.compose.project=edged-{short}-hello"))
        .into_iter()
        .filter(|n| !n.contains("side"))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    until_or(
        "the compose greeting in the container's output",
        || {
            podman
                .run(&["logs", &names[0]])
                .contains("hello from edgectl compose: composed on a stick")
                .then_some(())
        },
        log,
    );
    assert!(exists(podman, &s.composed));
    podman_and_skopeo_pull_it_from_the_lo(s, podman, &lo, top);
    drop(en);
}

/// The LO is a registry mirror of what the stick carried: podman pulls the
/// image from it under its upstream name with edge-1's certificate (the
/// same manifest digest), skopeo copies every blob of it, and edge-2, whose
/// deployments do not name it, is refused.
fn podman_and_skopeo_pull_it_from_the_lo(s: &Scene, podman: &Podman, lo: &Lo, top: &Value) {
    let dir = s.f.dir.path();
    let certs = crate::registry::cert_dir(&s.f.d1, &dir.join("certs-1"));
    let cert_arg = format!("--cert-dir={}", certs.display());
    let mirrored = format!("127.0.0.1:{}/{}:1.0.0", lo.port(), s.name);
    let _pulled = Cleanup {
        podman,
        images: vec![mirrored.clone()],
        data: dir.join("none"),
    };
    // This LO was enrolled without `--name`: its certificate names it by
    // SPIFFE ID only, which Go's TLS cannot match to a host, so the server
    // is not checked here (the registry scenario checks it); the client
    // sends its certificate.
    let _ = podman.run(&["pull", "--tls-verify=false", &cert_arg, &mirrored]);
    let digests = podman.run(&[
        "image",
        "inspect",
        "--format",
        "{{.RepoDigests}}",
        &mirrored,
    ]);
    let want = format!(
        "127.0.0.1:{}/{}@{}",
        lo.port(),
        s.name,
        top["digest"].as_str().unwrap()
    );
    assert!(digests.contains(&want), "{want} in {digests}");

    let out = dir.join("copied-image");
    let copy = std::process::Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("--src-cert-dir={}", certs.display()))
        .arg(format!("docker://{mirrored}"))
        .arg(format!("dir:{}", out.display()))
        .output()
        .unwrap();
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );
    let manifest = std::fs::read(out.join("manifest.json")).unwrap();
    assert_eq!(
        edge_model::digest::sha256(&manifest).as_str(),
        top["digest"].as_str().unwrap()
    );
    let parsed = edge_workspace::image::parse_manifest(&manifest, 1 << 30).unwrap();
    for blob in parsed.parts() {
        let bytes = std::fs::read(out.join(blob.digest.trim_start_matches("sha256:"))).unwrap();
        assert_eq!(edge_model::digest::sha256(&bytes).as_str(), blob.digest);
    }

    let certs2 = crate::registry::cert_dir(&s.f.d2, &dir.join("certs-2"));
    let refused = podman.pull_from_lo(&certs2, &mirrored);
    assert!(!refused.status.success(), "edge-2 is served none of it");
    let text = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(text.contains("manifest unknown"), "{text}");
}
