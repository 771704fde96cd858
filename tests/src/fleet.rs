//! Shared by the scenario tests: a fleet (CO, sites, devices, credentials),
//! deploying and reading states, the packages the scenarios build, and the
//! checks of the fleet-manager MUSTs of the Margo desired-state API (DIGEST
//! §15.2) a client can make.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::co::{Co, ok};
use crate::lo::{Margo, Reply};
use crate::wait::until_or;
use edge_model::digest::sha256;
use serde_json::{Value, json};

pub const MANIFEST: &str = "application/vnd.margo.manifest.v1+json";
pub const BUNDLE: &str = "application/vnd.margo.bundle.v1+tar+gzip";

pub fn enroll(co: &Co, dir: &Path, site: &str, device: Option<&str>) -> PathBuf {
    let out = dir.join(device.unwrap_or(site));
    let mut args = vec![
        "co",
        "enroll",
        "--site",
        site,
        "--out",
        out.to_str().unwrap(),
    ];
    match device {
        Some(d) => args.extend(["--device", d]),
        None => args.push("--lo"),
    }
    ok(&co.edgectl(&args));
    out
}

/// Credentials of a device attached to the CO directly (`--direct`).
pub fn enroll_direct(co: &Co, dir: &Path, site: &str, device: &str) -> PathBuf {
    let out = dir.join(format!("direct-{device}"));
    ok(&co.edgectl(&[
        "co",
        "enroll",
        "--site",
        site,
        "--device",
        device,
        "--direct",
        "--out",
        out.to_str().unwrap(),
    ]));
    out
}

pub fn south_url(creds: &Path) -> String {
    let text = std::fs::read_to_string(creds.join("edged.toml")).unwrap();
    let line = text.lines().find(|l| l.starts_with("server = ")).unwrap();
    line["server = ".len()..].trim_matches('"').to_owned()
}

/// A fleet: sites plant-1 (edge-1, edge-2) and plant-2 (edge-9), the
/// hello-wasm app, the plant-1 LO's and every device's credentials.
pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub co: Co,
    pub lo_creds: PathBuf,
    pub d1: PathBuf,
    pub d2: PathBuf,
    pub d9: PathBuf,
}

pub fn fleet() -> Fleet {
    fleet_with(&[])
}

/// [`fleet`], its CO started with `co_args` too.
pub fn fleet_with(co_args: &[&str]) -> Fleet {
    fleet_with_env(co_args, &[])
}

/// [`fleet_with`], its CO started with environment variables `env` too.
pub fn fleet_with_env(co_args: &[&str], env: &[(&str, &str)]) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start_with_env(&dir.path().join("co"), co_args, env);
    co.add_app("fixtures/packages/hello-wasm");
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "site", "plant-2"]));
    for (d, s) in [
        ("edge-1", "plant-1"),
        ("edge-2", "plant-1"),
        ("edge-9", "plant-2"),
    ] {
        ok(&co.edgectl(&["co", "add", "device", d, "--site", s]));
    }
    let lo_creds = enroll(&co, dir.path(), "plant-1", None);
    let d1 = enroll(&co, dir.path(), "plant-1", Some("edge-1"));
    let d2 = enroll(&co, dir.path(), "plant-1", Some("edge-2"));
    let d9 = enroll(&co, dir.path(), "plant-2", Some("edge-9"));
    Fleet {
        dir,
        co,
        lo_creds,
        d1,
        d2,
        d9,
    }
}

/// GET the manifest until its version reaches `version`; returns it and the reply.
pub fn manifest_at(m: &Margo, version: u64, log: impl Fn() -> String) -> (Value, Reply) {
    until_or(
        &format!("manifest version {version}"),
        || {
            let r = m.get("/api/v1/deployments", &[]);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let v = r.json();
            (v["manifestVersion"].as_u64() >= Some(version)).then_some((v, r))
        },
        log,
    )
}

/// GET the manifest until it lists `n` deployments.
pub fn manifest_with(m: &Margo, n: usize, log: impl Fn() -> String) -> (Value, Reply) {
    until_or(
        &format!("a manifest with {n} deployment(s)"),
        || {
            let r = m.get("/api/v1/deployments", &[]);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let v = r.json();
            (v["deployments"].as_array().map(Vec::len) == Some(n)).then_some((v, r))
        },
        log,
    )
}

/// Every fleet-manager MUST of DIGEST §15.2 a manifest reply can show.
pub fn check_manifest(r: &Reply, v: &Value) {
    assert_eq!(r.header("content-type"), Some(MANIFEST));
    let digest = sha256(&r.body).to_string();
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{digest}\"").as_str()),
        "strong ETag = digest of the exact body"
    );
    let cache = r.header("cache-control").unwrap_or_default();
    assert!(
        cache.contains("private") && !cache.contains("immutable") && !cache.contains("max-age"),
        "{cache}"
    );
    assert!(v["manifestVersion"].as_u64().unwrap() >= 1);
    let deployments = v["deployments"].as_array().unwrap();
    assert!(
        v.as_object().unwrap().contains_key("bundle"),
        "the bundle key is always present"
    );
    assert_eq!(
        v["bundle"].is_null(),
        deployments.is_empty(),
        "bundle null iff no deployments"
    );
    // Canonical JSON: what we got is exactly the sorted, compact serialization.
    assert_eq!(r.body, edge_model::digest::canonical_json(v));
}

/// Fetch every listed deployment and the bundle, checking digests, ETags and
/// that the bundle holds exactly the listed files; returns the YAML texts.
pub fn check_content(m: &Margo, v: &Value, device: &str) -> Vec<String> {
    let mut yamls = Vec::new();
    let mut names = Vec::new();
    for d in v["deployments"].as_array().unwrap() {
        let (id, digest, url) = (
            d["deploymentId"].as_str().unwrap(),
            d["digest"].as_str().unwrap(),
            d["url"].as_str().unwrap(),
        );
        assert_eq!(url, format!("/api/v1/deployments/{id}/{digest}"));
        let r = m.get(url, &[]);
        assert_eq!(r.status, 200);
        assert_eq!(
            sha256(&r.body).to_string(),
            digest,
            "digest over the exact bytes"
        );
        assert_eq!(r.header("etag"), Some(format!("\"{digest}\"").as_str()));
        assert!(r.header("cache-control").unwrap().contains("immutable"));
        let yaml = String::from_utf8(r.body.clone()).unwrap();
        assert!(
            yaml.contains(&format!("id: {id}")),
            "deploymentId = metadata.annotations.id:\n{yaml}"
        );
        assert!(yaml.contains(&format!("deviceId: {device}")), "{yaml}");
        assert_eq!(
            m.get(url, &[("if-none-match", &format!("\"{digest}\""))])
                .status,
            304
        );
        names.push(format!("{id}.yaml"));
        yamls.push(yaml);
    }
    if let Some(b) = v["bundle"].as_object() {
        assert_eq!(b["mediaType"], BUNDLE);
        let r = m.get(b["url"].as_str().unwrap(), &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(BUNDLE));
        assert_eq!(sha256(&r.body).to_string(), b["digest"].as_str().unwrap());
        let tag = format!("\"{}\"", b["digest"].as_str().unwrap());
        assert_eq!(
            r.header("etag"),
            Some(tag.as_str()),
            "the bundle's ETag is its digest"
        );
        assert_eq!(
            m.get(b["url"].as_str().unwrap(), &[("if-none-match", &tag)])
                .status,
            304
        );
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&r.body[..]));
        let mut inside = Vec::new();
        for e in tar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut text = String::new();
            e.read_to_string(&mut text).unwrap();
            assert!(
                yamls.contains(&text),
                "{name} is not byte-identical to a listed deployment"
            );
            inside.push(name);
        }
        inside.sort();
        names.sort();
        assert_eq!(
            inside, names,
            "the bundle holds exactly the listed deployments"
        );
    }
    yamls
}

pub fn status_doc(id: &str, state: &str, version: u64) -> Value {
    json!({"deploymentId": id, "adoptedManifestVersion": version,
           "status": {"state": state}, "components": [{"name": "hello", "state": state}]})
}

pub fn caps_doc(id: &str) -> Value {
    json!({"properties": {"id": id, "vendor": "Acme", "modelNumber": "m1", "serialNumber": "s1",
        "cpus": [{"cores": 4, "architecture": "amd64"}], "memory": "8Gi", "storage": "64Gi",
        "otelCollector": false, "supportedRuntimes": ["custom"], "supportedDeploymentTypes": ["wasm", "process"]}})
}

/// Deploy hello-wasm to `device` of plant-1; returns the deployment id.
pub fn deploy_hello(co: &Co, device: &str) -> String {
    deploy_to(co, "hello-wasm", device, &[])
}

/// Deploy `app` to `device` of plant-1 with `extra` arguments (`--set …`),
/// whether or not the device has reported its capabilities yet
/// (`--allow-unreported`); returns the deployment id.
pub fn deploy_to(co: &Co, app: &str, device: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "co",
        "deploy",
        "--app",
        app,
        "--site",
        "plant-1",
        "--device",
        device,
        "--allow-unreported",
        "-o",
        "json",
    ];
    args.extend(extra);
    let out = ok(&co.edgectl(&args));
    serde_json::from_str::<Value>(&out).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `spin-wasm`: hello-wasm with an endless module and a fuel budget of 50000
/// in its `x-edgectl-extensions.limits`. With `wait` the node reports it
/// `failed` only when the restart policy gives up (about 10 s); without, it
/// reports whatever it sees first and the failure as its watcher sees it.
/// Returns the package folder.
pub fn spin_wasm_package(dir: &Path, wait: bool) -> PathBuf {
    let pkg = dir.join("spin-wasm");
    crate::co::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/packages/hello-wasm"),
        &pkg,
    );
    std::fs::write(
        pkg.join("components/hello.wat"),
        r#"(module (func (export "_start") (loop (br 0))))"#,
    )
    .unwrap();
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("id: hello-wasm\n", "id: spin-wasm\n")
        .replace("wait: true", if wait { "wait: true" } else { "wait: false" })
        .replace(
            "          timeout: \"1m0s\"\n",
            "          timeout: \"1m0s\"\n        x-edgectl-extensions:\n          limits:\n            fuel: 50000\n            memoryBytes: 1048576\n",
        );
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    pkg
}

/// Wait until the CO reports deployment `id` in state `want`.
pub fn wait_state(co: &Co, id: &str, want: &str, log: impl Fn() -> String) {
    until_or(
        &format!("deployment {id} {want} at the CO"),
        || (co_state(co, id).as_deref() == Some(want)).then_some(()),
        log,
    );
}

/// `edgectl en list -o json` of a node.
pub fn listing(en: &crate::en::En) -> Value {
    serde_json::from_str(&ok(&en.edgectl(&["list", "-o", "json"]))).unwrap()
}

/// The node's row of deployment `id`, if it lists it.
pub fn row(en: &crate::en::En, id: &str) -> Option<Value> {
    listing(en)["workloads"]
        .as_array()?
        .iter()
        .find(|w| w["deployment"] == id)
        .cloned()
}

/// The CO's deployments, as `co list deployments -o json` prints them.
pub fn deployments(co: &Co) -> Vec<Value> {
    let out = ok(&co.edgectl(&["co", "list", "deployments", "-o", "json"]));
    match serde_json::from_str(&out).unwrap() {
        Value::Array(list) => list,
        other => panic!("not a list: {other}"),
    }
}

pub fn co_state(co: &Co, id: &str) -> Option<String> {
    deployments(co)
        .iter()
        .find(|d| d["id"] == id)?
        .get("state")?
        .as_str()
        .map(str::to_owned)
}

pub fn caps_with(id: &str, cores: u32, memory: &str) -> Value {
    let mut c = caps_doc(id);
    c["properties"]["cpus"][0]["cores"] = json!(cores);
    c["properties"]["memory"] = json!(memory);
    c
}

/// A fixture package's folder.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/packages")
        .join(name)
}

/// A copy of fixture package `from` as app `id` whose one component comes
/// from `repository` (`oci://…`) instead of the package file `local`.
pub fn registry_app(dir: &Path, from: &str, id: &str, local: &str, repository: &str) -> String {
    let pkg = dir.join(id);
    crate::co::copy_tree(&fixture(from), &pkg);
    std::fs::remove_dir_all(pkg.join("components")).unwrap();
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace(&format!("id: {from}\n"), &format!("id: {id}\n"))
        .replace(
            &format!("repository: {local}"),
            &format!("repository: {repository}"),
        );
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    pkg.to_str().unwrap().to_owned()
}

/// The LO credentials with the CO's address replaced by a closed port.
pub fn unrouted(creds: &Path, to: &Path) -> PathBuf {
    pointed_at(creds, to, "https://127.0.0.1:9")
}

/// A copy of the credentials `creds` at `to` whose `server` is `server`
/// (an LO talking to the CO through a proxy, or to nothing).
pub fn pointed_at(creds: &Path, to: &Path, server: &str) -> PathBuf {
    crate::co::copy_tree(creds, to);
    let file = to.join("edged.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("server = ") {
                format!("server = \"{server}\"")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&file, text + "\n").unwrap();
    to.to_path_buf()
}

/// `edgectl co export --site plant-1 --to TO EXTRA…`, as run.
pub fn export_site(co: &Co, to: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "co",
        "export",
        "--site",
        "plant-1",
        "--to",
        to.to_str().unwrap(),
    ];
    args.extend(extra);
    co.edgectl(&args)
}

/// A copy of stick `stick` at `to` without the blob `digest`.
pub fn without_blob(stick: &Path, to: &Path, digest: &str) -> PathBuf {
    crate::co::copy_tree(stick, to);
    std::fs::remove_file(
        to.join("oci/blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    to.to_path_buf()
}

/// A container app at `dir/hello-container`: the hello-process package with
/// its profile replaced by one running `image` (`HOST/NAME`, tag 1.0.0).
pub fn container_package(dir: &Path, image: &str) -> PathBuf {
    let pkg = dir.join("hello-container");
    crate::co::copy_tree(&fixture("hello-process"), &pkg);
    std::fs::remove_dir_all(pkg.join("components")).unwrap();
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("id: hello-process\n", "id: hello-container\n")
        .replace("type: process", "type: container")
        .replace("id: hello-process-process", "id: hello-container-container")
        .replace(
            "repository: ./components/hello.sh",
            &format!("repository: oci://{image}"),
        );
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    pkg
}
