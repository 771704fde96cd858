//! The LO as a pull-through registry for its site, with real parts: an
//! image pushed with podman to Debian's docker-registry, which wants a
//! user and password (`htpasswd`) and logs every request; a `container` app
//! deployed from it to edge-1; an LO whose `registries.toml` holds the
//! registry's credentials (first wrong ones: the device gets the OCI error
//! saying so, nothing is kept). Then concurrent first requests cause one
//! upstream fetch; podman pulls the image through the LO with edge-1's
//! certificate (the upstream manifest digest), and again with nothing
//! more asked of the registry; edge-2 is refused, and a name or tag no
//! deployment of edge-1 names is refused without any request to the
//! registry. A registry using token authentication (its own token server,
//! `tests/registry/token_server.py`) is pulled from with a user and password the
//! LO trades for a token, and with a token given as is.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use edge_tests::co::ok;
use edge_tests::fleet::{container_package, deploy_to, fleet_with, manifest_with};
use edge_tests::lo::{Lo, Margo};
use edge_tests::podman::{HELLO, Podman};

const USER: &str = "site-puller";
const PASSWORD: &str = "pw-9f3c1d";

/// Removes the images this test pulled, however it ends.
struct Images<'a>(&'a Podman, Vec<String>);

impl Drop for Images<'_> {
    fn drop(&mut self) {
        for image in &self.1 {
            let _ = self.0.cmd().args(["rmi", "-f", image]).output();
        }
    }
}

/// `registries.toml` in `data`, owner-only.
fn credentials(data: &Path, addr: &str, password: &str) {
    std::fs::create_dir_all(data).unwrap();
    let file = data.join("registries.toml");
    std::fs::write(
        &file,
        format!("[registry.\"{addr}\"]\nusername = \"{USER}\"\npassword = \"{password}\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The digest of the manifest the registry holds for `name:tag`.
fn upstream_digest(addr: &str, name: &str) -> String {
    upstream_digest_as(addr, name, |r| r.basic_auth(USER, Some(PASSWORD)))
}

/// [`upstream_digest`], authenticating the request with `auth`.
fn upstream_digest_as(
    addr: &str,
    name: &str,
    auth: impl FnOnce(reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder,
) -> String {
    let r = auth(reqwest::blocking::Client::new().get(format!("http://{addr}/v2/{name}/manifests/1.0.0")))
        .header(
            "accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    edge_model::digest::sha256(&r.bytes().unwrap()).to_string()
}

/// The registry's requests under `name`.
fn asked(registry: &edge_tests::registry::Registry, name: &str) -> Vec<String> {
    registry
        .requests()
        .into_iter()
        .filter(|r| r.contains(&format!("/v2/{name}/")))
        .collect()
}

/// Push the test image to the registry at `addr` (as `USER`) under a name
/// of its own, `upstream/PREFIX-…:1.0.0`; returns the name.
fn push_hello(podman: &Podman, addr: &str, prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("upstream/{prefix}-{}-{nanos}", std::process::id());
    podman.push_as(
        HELLO,
        addr,
        &format!("{name}:1.0.0"),
        &format!("{USER}:{PASSWORD}"),
    );
    name
}

#[test]
fn podman_pulls_an_image_through_the_lo_from_a_registry_wanting_credentials() {
    let podman = Podman::setup();
    let registry = edge_tests::registry::start_with_auth(USER, PASSWORD).unwrap();
    let addr = registry.addr.clone();
    let name = push_hello(&podman, &addr, "hello");
    let upstream = upstream_digest(&addr, &name);
    let pushed = asked(&registry, &name).len();

    let f = fleet_with(&["--insecure-registries", &addr]);
    let pkg = container_package(f.dir.path(), &format!("{addr}/{name}"));
    ok(&f
        .co
        .edgectl(&["co", "add", "app", "--artifact", pkg.to_str().unwrap()]));
    let _ = deploy_to(&f.co, "hello-container", "edge-1", &[]);

    // Wrong credentials: the device is told why, nothing is kept.
    let data = f.dir.path().join("lo");
    credentials(&data, &addr, "not-the-password");
    let lo = Lo::start(&f.lo_creds, &data, &["--insecure-registries", &addr]);
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let _ = manifest_with(&m1, 1, || lo.log());
    let path = format!("/v2/{name}/manifests/1.0.0");
    let refused = m1.get(&path, &[]);
    assert_eq!(
        refused.status,
        502,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    let error = &refused.json()["errors"][0];
    assert_eq!(error["code"], "UNKNOWN");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("could not pull it from its registry")
            && message.contains(&format!("registry `{addr}` refused access"))
            && message.contains("registries.toml"),
        "{message}"
    );
    assert!(!data.join("pulled.json").exists());
    assert!(
        asked(&registry, &name).len() > pushed,
        "the LO asked the registry"
    );
    let log = lo.log();
    assert!(
        !log.contains("not-the-password") && !log.contains(PASSWORD),
        "{log}"
    );
    let _ = lo.stop();

    // The right ones: four devices' first requests at once, one fetch.
    credentials(&data, &addr, PASSWORD);
    let lo = Lo::start(
        &f.lo_creds,
        &data,
        &[
            "--insecure-registries",
            &addr,
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let url = lo.url.clone();
    let before = asked(&registry, &name).len();
    // Another tag of the same repository, and the tag list, fetch nothing.
    let untagged = m1.get(&format!("/v2/{name}/manifests/2.0.0"), &[]);
    assert_eq!(untagged.status, 404);
    assert_eq!(untagged.json()["errors"][0]["code"], "MANIFEST_UNKNOWN");
    assert_eq!(m1.get(&format!("/v2/{name}/tags/list"), &[]).status, 404);
    assert_eq!(
        asked(&registry, &name).len(),
        before,
        "nothing fetched for a tag no deployment names"
    );
    let digests: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let m = Margo::new(&f.d1, &url, "plant-1");
                    let r = m.get(&path, &[]);
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    edge_model::digest::sha256(&r.body).to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        digests.iter().all(|d| *d == upstream),
        "{digests:?} vs {upstream}"
    );
    let fetched = asked(&registry, &name)[before..].to_vec();
    let manifests = fetched
        .iter()
        .filter(|r| r.starts_with(&format!("GET {path} ")) && r.ends_with(" 200"))
        .count();
    assert_eq!(manifests, 1, "one fetch of the manifest: {fetched:?}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("pulled.json")).unwrap()).unwrap();
    let reference = format!("oci://{addr}/{name}:1.0.0");
    assert_eq!(
        record["pulled"][reference.as_str()]["digest"],
        upstream.as_str()
    );

    // podman pulls it through the LO with edge-1's certificate.
    let dir = f.dir.path();
    let certs = crate::registry::cert_dir(&f.d1, &dir.join("certs-1"));
    let cert_arg = format!("--cert-dir={}", certs.display());
    let mirrored = format!("127.0.0.1:{}/{name}:1.0.0", lo.port());
    let _images = Images(&podman, vec![mirrored.clone()]);
    let asked_before_podman = asked(&registry, &name).len();
    for _ in 0..2 {
        let _ = podman.run(&["pull", "--tls-verify=false", &cert_arg, &mirrored]);
        let digests = podman.run(&[
            "image",
            "inspect",
            "--format",
            "{{.RepoDigests}}",
            &mirrored,
        ]);
        let want = format!("127.0.0.1:{}/{name}@{upstream}", lo.port());
        assert!(digests.contains(&want), "{want} in {digests}");
        let _ = podman.run(&["rmi", &mirrored]);
    }
    assert_eq!(
        asked(&registry, &name).len(),
        asked_before_podman,
        "served from the LO's copy: {:?}",
        asked(&registry, &name)
    );

    // edge-2's deployments do not name it; edge-1's name neither another
    // repository nor another tag: all refused, the registry not asked.
    let asked_before = registry.requests().len();
    let certs2 = crate::registry::cert_dir(&f.d2, &dir.join("certs-2"));
    let refused = podman.pull_from_lo(&certs2, &mirrored);
    assert!(!refused.status.success(), "edge-2 is served none of it");
    let text = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(text.contains("manifest unknown"), "{text}");
    for path in [
        format!("/v2/{name}-other/manifests/1.0.0"),
        format!("/v2/{name}/manifests/2.0.0"),
    ] {
        let other = m1.get(&path, &[]);
        assert_eq!(other.status, 404, "{path}");
        assert_eq!(other.json()["errors"][0]["code"], "MANIFEST_UNKNOWN");
    }
    assert_eq!(
        registry.requests().len(),
        asked_before,
        "nothing asked upstream for what no deployment of the caller names"
    );
    let log = lo.log();
    assert!(!log.contains(PASSWORD), "{log}");

    // Its /metrics tells: one fetch from upstream, the rest answered from it.
    let page = metrics_page(&log);
    let value = |name: &str| -> f64 {
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{page}"))
    };
    assert_eq!(value("edged_lo_pull_through_total{result=\"pulled\"}"), 1.0);
    assert_eq!(value("edged_lo_pull_through_total{result=\"failed\"}"), 0.0);
    assert!(value("edged_lo_pull_through_total{result=\"hit\"}") >= 3.0);
    assert!(value("edged_lo_pull_through_fetched_bytes_total") > 0.0);
    assert!(value("edged_lo_pull_cache_bytes") > 0.0);
}

/// The LO's `/metrics` page, at the address its log names.
fn metrics_page(log: &str) -> String {
    let addr = crate::metrics::metrics_addr(log);
    reqwest::blocking::get(format!("http://{addr}/metrics"))
        .and_then(reqwest::blocking::Response::text)
        .unwrap()
}

/// `registries.toml` in `data` naming a bearer token, owner-only.
fn token_credentials(data: &Path, addr: &str, token: &str) {
    std::fs::create_dir_all(data).unwrap();
    let file = data.join("registries.toml");
    std::fs::write(
        &file,
        format!("[registry.\"{addr}\"]\ntoken = \"{token}\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn the_lo_pulls_through_a_registry_that_wants_bearer_tokens() {
    let podman = Podman::setup();
    let registry = edge_tests::registry::start_with_token(USER, PASSWORD).unwrap();
    let addr = registry.addr.clone();
    let name = push_hello(&podman, &addr, "token");
    let scope = format!("repository:{name}:pull");
    let pull_token = registry.issue_token(USER, PASSWORD, &scope);
    let upstream = upstream_digest_as(&addr, &name, |r| r.bearer_auth(&pull_token));
    // Without a token the registry answers nothing.
    let anonymous =
        reqwest::blocking::get(format!("http://{addr}/v2/{name}/manifests/1.0.0")).unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    let f = fleet_with(&["--insecure-registries", &addr]);
    let pkg = container_package(f.dir.path(), &format!("{addr}/{name}"));
    ok(&f
        .co
        .edgectl(&["co", "add", "app", "--artifact", pkg.to_str().unwrap()]));
    let _ = deploy_to(&f.co, "hello-container", "edge-1", &[]);
    let path = format!("/v2/{name}/manifests/1.0.0");
    let granted_pull = |t: &serde_json::Value| {
        t["user"] == USER
            && t["access"][0]["name"] == name.as_str()
            && t["access"][0]["actions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "pull"))
    };

    // A user and password: the LO trades them for a token at the realm the
    // registry's challenge names.
    let data = f.dir.path().join("lo");
    credentials(&data, &addr, PASSWORD);
    let lo = Lo::start(&f.lo_creds, &data, &["--insecure-registries", &addr]);
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let _ = manifest_with(&m1, 1, || lo.log());
    let asked_before = registry
        .token_requests()
        .iter()
        .filter(|t| granted_pull(t))
        .count();
    let got = m1.get(&path, &[]);
    assert_eq!(
        got.status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&got.body),
        lo.log()
    );
    assert_eq!(edge_model::digest::sha256(&got.body).to_string(), upstream);
    assert!(
        registry
            .token_requests()
            .iter()
            .filter(|t| granted_pull(t))
            .count()
            > asked_before,
        "the LO asked the token server: {:?}",
        registry.token_requests()
    );
    assert!(!lo.log().contains(PASSWORD));
    let _ = lo.stop();

    // A token given as is: used, nothing asked of the token server.
    let data = f.dir.path().join("lo-token");
    token_credentials(&data, &addr, &pull_token);
    let lo = Lo::start(&f.lo_creds, &data, &["--insecure-registries", &addr]);
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let _ = manifest_with(&m1, 1, || lo.log());
    let tokens_before = registry.token_requests().len();
    let got = m1.get(&path, &[]);
    assert_eq!(
        got.status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&got.body),
        lo.log()
    );
    assert_eq!(edge_model::digest::sha256(&got.body).to_string(), upstream);
    assert_eq!(registry.token_requests().len(), tokens_before);
    assert!(!lo.log().contains(&pull_token));
    let _ = lo.stop();

    // Wrong credentials: the token server refuses, the device is told why.
    let data = f.dir.path().join("lo-wrong");
    credentials(&data, &addr, "not-the-password");
    let lo = Lo::start(&f.lo_creds, &data, &["--insecure-registries", &addr]);
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let _ = manifest_with(&m1, 1, || lo.log());
    let refused = m1.get(&path, &[]);
    assert_eq!(
        refused.status,
        502,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    let message = refused.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("could not pull it from its registry"),
        "{message}"
    );
    assert!(!data.join("pulled.json").exists());
}
