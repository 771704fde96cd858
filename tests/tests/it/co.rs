//! The central orchestrator end to end: a real `edged --mode co` on loopback,
//! driven by the real `edgectl`, adding packages from a folder, a Git server
//! (`git http-backend`) and an OCI registry (Debian's `docker-registry`), and
//! refusing every kind of bad input without storing anything.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use edge_tests::co::{Co, bin, copy_tree, fails, git, ok, repo_root};
use edge_tests::git_http::GitHttpServer;
use edge_tests::registry;

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn commits(co: &Co) -> usize {
    let o = Command::new("git")
        .args(["-C"])
        .arg(co.data.join("workspace"))
        .args(["rev-list", "--count", "HEAD"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn first_start_restart_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("co-data");
    let co = Co::start(&data, &[]);
    assert!(data.join("workspace/.git").is_dir());
    assert!(data.join("edged.db").is_file());
    let mode = fs::metadata(data.join("admin.token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(co.token.len() >= 32);
    let status = ok(&co.edgectl(&["co", "status"]));
    assert!(status.contains("health:       ok"), "{status}");
    ok(&co.edgectl(&["co", "add", "site", "plant-1", "--label", "region=eu"]));
    co.add_app("fixtures/packages/hello-wasm");
    let token = co.token.clone();
    assert!(co.stop().success(), "SIGTERM must exit 0");

    let co = Co::start(&data, &[]);
    assert_eq!(co.token, token, "the token survives a restart");
    let sites = ok(&co.edgectl(&["co", "list", "sites"]));
    assert!(
        sites.contains("plant-1") && sites.contains("region=eu"),
        "{sites}"
    );
    assert!(ok(&co.edgectl(&["co", "list", "apps"])).contains("hello-wasm"));
    assert!(co.stop().success());
}

#[test]
fn apps_from_a_folder_a_git_url_and_an_oci_registry() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry::start().expect("Debian's docker-registry (scripts/test installs it)");
    let insecure = format!("--insecure-registries={}", reg.addr);
    let co = Co::start(&dir.path().join("co"), &[&insecure]);
    an_app_is_added_from_a_folder(&co);
    let repos = two_git_repositories(dir.path());
    let (_server, url) = apps_are_added_from_git_urls_a_folder_picked_by_name(&co, &repos);
    let reference = an_app_is_added_from_an_oci_artifact_edgectl_pushed(&co, &reg.addr);
    the_list_comes_as_a_table_json_and_yaml(&co);
    show_finds_a_display_name_and_names_each_versions_source(&co, &url, &reference);
    each_version_is_a_commit_in_the_workspace_with_its_files(&co);
}

/// A folder.
fn an_app_is_added_from_a_folder(co: &Co) {
    let added = co.add_app("fixtures/packages/hello-wasm");
    assert!(added.contains("added app `hello-wasm`"), "{added}");
}

/// A folder of two Git repositories: `hello-process.git` holding the
/// package at its root, and `registry.git` holding a package in a folder.
fn two_git_repositories(dir: &Path) -> PathBuf {
    let repos = dir.join("repos");
    let repo = repos.join("hello-process.git");
    copy_tree(&repo_root().join("fixtures/packages/hello-process"), &repo);
    let _ = git(&repo, &["init", "-q", "-b", "main"]);
    let _ = git(&repo, &["add", "-A"]);
    let _ = git(&repo, &["commit", "-q", "-m", "package"]);
    let registry_repo = repos.join("registry.git");
    copy_tree(
        &repo_root().join("fixtures/packages/hello-helm"),
        &registry_repo.join("helm-hello"),
    );
    fs::write(
        registry_repo.join("README.md"),
        "packages, one per folder\n",
    )
    .unwrap();
    let _ = git(&registry_repo, &["init", "-q", "-b", "main"]);
    let _ = git(&registry_repo, &["add", "-A"]);
    let _ = git(&registry_repo, &["commit", "-q", "-m", "registry"]);
    repos
}

/// A Git URL with the package at its root is added; one with the package
/// in a folder is refused for lack of `margo.yaml`, then added with --name.
/// Returns the server and the first URL.
fn apps_are_added_from_git_urls_a_folder_picked_by_name(
    co: &Co,
    repos: &Path,
) -> (GitHttpServer, String) {
    let server = GitHttpServer::start(repos).unwrap();
    let url = format!("{}/hello-process.git", server.url);
    co.add_app(&url);
    let registry_url = format!("{}/registry.git", server.url);
    fails(
        &co.edgectl(&["co", "add", "app", "--artifact", &registry_url]),
        "no `margo.yaml`",
    );
    ok(&co.edgectl(&[
        "co",
        "add",
        "app",
        "--artifact",
        &registry_url,
        "--name",
        "helm-hello",
        "--ref",
        "main",
    ]));
    (server, url)
}

/// An OCI reference to a Margo package artifact, published with `edgectl
/// package push` (which refuses an invalid package). Returns the reference.
fn an_app_is_added_from_an_oci_artifact_edgectl_pushed(co: &Co, addr: &str) -> String {
    let reference = format!("{addr}/apps/hello-compose:1.0.0");
    let repository = format!("{addr}/apps/hello-compose");
    let pushed = ok(&co.edgectl(&[
        "package",
        "push",
        "fixtures/packages/hello-compose",
        "--to",
        &repository,
        "--insecure-registry",
        addr,
    ]));
    assert!(pushed.contains("sha256:"), "{pushed}");
    fails(
        &co.edgectl(&[
            "package",
            "push",
            "fixtures/invalid/timeout-format",
            "--to",
            &repository,
            "--insecure-registry",
            addr,
        ]),
        "timeout",
    );
    co.add_app(&format!("oci://{reference}"));
    reference
}

/// All three forms of output.
fn the_list_comes_as_a_table_json_and_yaml(co: &Co) {
    let table = ok(&co.edgectl(&["co", "list", "apps"]));
    insta::assert_snapshot!("list_apps_table", table);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&co.edgectl(&["-o", "json", "co", "list", "apps"]))).unwrap();
    let ids: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "com-northstartida-hello-world",
            "hello-compose",
            "hello-process",
            "hello-wasm"
        ]
    );
    let yaml = ok(&co.edgectl(&["-o", "yaml", "co", "list", "apps"]));
    assert!(yaml.contains("- id: hello-compose\n"), "{yaml}");
}

/// Show by display name; the source of each version is recorded.
fn show_finds_a_display_name_and_names_each_versions_source(co: &Co, url: &str, reference: &str) {
    let shown = ok(&co.edgectl(&["co", "show", "app", "Hello Process"]));
    assert!(shown.contains(&format!("from {url}")), "{shown}");
    let filtered = shown
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("- 1.0.0  added") {
                "  - 1.0.0  added [time]  from [git url]  commit [id]"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("show_app_hello_process", filtered);
    let detail: serde_json::Value = serde_json::from_str(&ok(&co.edgectl(&[
        "-o",
        "json",
        "co",
        "show",
        "app",
        "hello-compose",
    ])))
    .unwrap();
    assert_eq!(
        detail["versions"][0]["source"],
        format!("oci://{reference}")
    );
    assert_eq!(
        detail["description"]["deploymentProfiles"][0]["type"],
        "compose"
    );
}

/// Each version is a commit in the workspace with its files; the process
/// artifact stays executable.
fn each_version_is_a_commit_in_the_workspace_with_its_files(co: &Co) {
    let ws = co.data.join("workspace");
    assert!(
        ws.join("apps/hello-compose/1.0.0/components/hello/compose.yaml")
            .is_file()
    );
    let mode = fs::metadata(ws.join("apps/hello-process/1.0.0/components/hello.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "the process artifact stays executable");
    assert_eq!(commits(co), 4);
}

#[test]
fn bad_input_is_refused_clearly_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    co.add_app("fixtures/packages/hello-wasm");
    let before = commits(&co);
    an_invalid_package_or_one_leading_outside_itself_is_refused(&co, dir.path());
    a_100_mb_margo_yaml_is_too_large(&co, dir.path());
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    an_unreachable_git_server_or_registry_is_named(&co, closed);
    a_duplicate_version_or_another_package_under_the_same_id_is_refused(&co, dir.path());
    a_wrong_token_a_server_that_is_down_and_an_unknown_app_are_named(&co, closed);
    nothing_was_stored_by_any_of_it(&co, before);
}

/// An invalid package (every problem is listed), a catalog file that leads
/// outside the package, and a symbolic link that escapes it.
fn an_invalid_package_or_one_leading_outside_itself_is_refused(co: &Co, dir: &Path) {
    fails(
        &co.edgectl(&[
            "co",
            "add",
            "app",
            "--artifact",
            "fixtures/invalid/revision-not-semver",
        ]),
        "revision",
    );
    let traversal = dir.join("traversal");
    copy_tree(
        &repo_root().join("fixtures/packages/hello-wasm"),
        &traversal,
    );
    let yaml = fs::read_to_string(traversal.join("margo.yaml"))
        .unwrap()
        .replace("./resources/description.md", "../../../../etc/passwd");
    fs::write(traversal.join("margo.yaml"), yaml).unwrap();
    fails(
        &co.edgectl(&[
            "co",
            "add",
            "app",
            "--artifact",
            traversal.to_str().unwrap(),
        ]),
        "must stay inside the package",
    );
    let linked = dir.join("linked");
    copy_tree(&repo_root().join("fixtures/packages/hello-wasm"), &linked);
    std::os::unix::fs::symlink("/etc/passwd", linked.join("resources/passwd")).unwrap();
    fails(
        &co.edgectl(&["co", "add", "app", "--artifact", linked.to_str().unwrap()]),
        "link",
    );
}

/// A 100 MB margo.yaml.
fn a_100_mb_margo_yaml_is_too_large(co: &Co, dir: &Path) {
    let huge = dir.join("huge");
    copy_tree(&repo_root().join("fixtures/packages/hello-wasm"), &huge);
    let mut text = fs::read_to_string(huge.join("margo.yaml")).unwrap();
    text.push_str(&format!("# {}\n", "x".repeat(100 * 1024 * 1024)));
    fs::write(huge.join("margo.yaml"), text).unwrap();
    fails(
        &co.edgectl(&["co", "add", "app", "--artifact", huge.to_str().unwrap()]),
        "too large",
    );
}

/// Unreachable Git server and registry (a closed port): the address is named.
fn an_unreachable_git_server_or_registry_is_named(co: &Co, closed: u16) {
    fails(
        &co.edgectl(&[
            "co",
            "add",
            "app",
            "--artifact",
            &format!("http://127.0.0.1:{closed}/apps.git"),
        ]),
        &format!("127.0.0.1:{closed}"),
    );
    fails(
        &co.edgectl(&[
            "co",
            "add",
            "app",
            "--artifact",
            &format!("oci://127.0.0.1:{closed}/apps/x:1.0.0"),
        ]),
        &format!("127.0.0.1:{closed}"),
    );
}

/// A duplicate version, and another package under the same id.
fn a_duplicate_version_or_another_package_under_the_same_id_is_refused(co: &Co, dir: &Path) {
    fails(
        &co.edgectl(&[
            "co",
            "add",
            "app",
            "--artifact",
            "fixtures/packages/hello-wasm",
        ]),
        "already in the store",
    );
    let clash = dir.join("clash");
    copy_tree(&repo_root().join("fixtures/packages/hello-wasm"), &clash);
    let yaml = fs::read_to_string(clash.join("margo.yaml"))
        .unwrap()
        .replace("version: 1.0.0", "version: 2.0.0")
        .replace("name: Hello Wasm", "name: Someone Else");
    fs::write(clash.join("margo.yaml"), yaml).unwrap();
    fails(
        &co.edgectl(&["co", "add", "app", "--artifact", clash.to_str().unwrap()]),
        "different package",
    );
}

/// A wrong token, a server that is down, an unknown app.
fn a_wrong_token_a_server_that_is_down_and_an_unknown_app_are_named(co: &Co, closed: u16) {
    let wrong = Command::new(bin("edgectl"))
        .args(["--server", &co.url, "co", "status"])
        .env("EDGE_TOKEN", "wrong")
        .env("EDGE_CA", co.data.join("ca/ca.crt"))
        .env("XDG_CONFIG_HOME", co.config_home.path())
        .output()
        .unwrap();
    fails(&wrong, "refused the token");
    let down = Command::new(bin("edgectl"))
        .args([
            "--server",
            &format!("http://127.0.0.1:{closed}"),
            "co",
            "list",
            "apps",
        ])
        .env("EDGE_TOKEN", "x")
        .env("XDG_CONFIG_HOME", co.config_home.path())
        .output()
        .unwrap();
    fails(&down, "cannot reach the server");
    fails(
        &co.edgectl(&["co", "show", "app", "no-such-app"]),
        "no app `no-such-app`",
    );
}

/// Nothing was stored by any of it: no commit, one app, staging empty, no
/// panic in the CO's log.
fn nothing_was_stored_by_any_of_it(co: &Co, before: usize) {
    assert_eq!(commits(co), before);
    let apps: serde_json::Value =
        serde_json::from_str(&ok(&co.edgectl(&["-o", "json", "co", "list", "apps"]))).unwrap();
    assert_eq!(apps.as_array().unwrap().len(), 1);
    let staging = fs::read_dir(co.data.join("staging")).unwrap().count();
    assert_eq!(staging, 0, "staging is cleaned up");
    assert!(!co.log().contains("panicked"));
}

#[test]
fn remove_is_a_commit_and_names_work() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    co.add_app("fixtures/packages/hello-helm");
    co.add_app("fixtures/packages/hello-wasm");
    // List first, so the server's cached list must be refreshed by the removal.
    assert!(ok(&co.edgectl(&["co", "list", "apps"])).contains("com-northstartida-hello-world"));
    ok(&co.edgectl(&["co", "remove", "app", "Hello World"]));
    fails(
        &co.edgectl(&["co", "remove", "app", "hello-wasm", "--version", "9.9.9"]),
        "no version `9.9.9`",
    );
    let list = ok(&co.edgectl(&["co", "list", "apps"]));
    assert!(
        !list.contains("com-northstartida-hello-world") && list.contains("hello-wasm"),
        "{list}"
    );
    assert!(
        !co.data
            .join("workspace/apps/com-northstartida-hello-world")
            .exists()
    );
    assert_eq!(commits(&co), 3);
}

#[test]
fn sites_and_devices() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    bad_sites_and_devices_are_refused_saying_why(&co);
    // A device behind a gateway is registered behind a device of its site.
    ok(&co.edgectl(&["co", "add", "device", "gw1", "--site", "plant-1"]));
    ok(&co.edgectl(&[
        "co",
        "add",
        "device",
        "gw1/cam-1",
        "--site",
        "plant-1",
        "--label",
        "zone=a",
    ]));
    ok(&co.edgectl(&["co", "label", "device", "gw1/cam-1", "zone-", "line=3"]));
    ok(&co.edgectl(&["co", "label", "site", "plant-1", "region=eu"]));
    sites_and_devices_are_listed_and_shown_with_their_labels(&co);
    labels_are_kept_in_the_workspace_files(&co);
}

/// A site that exists already or is not a name, a device of an unknown site,
/// that is not an id, or behind a gateway that is no device of its site.
fn bad_sites_and_devices_are_refused_saying_why(co: &Co) {
    fails(
        &co.edgectl(&["co", "add", "site", "plant-1"]),
        "exists already",
    );
    fails(
        &co.edgectl(&["co", "add", "site", "../up"]),
        "not a site name",
    );
    fails(
        &co.edgectl(&["co", "add", "device", "cam-1", "--site", "nowhere"]),
        "no site `nowhere`",
    );
    fails(
        &co.edgectl(&["co", "add", "device", "gw/../x", "--site", "plant-1"]),
        "not a device id",
    );
    fails(
        &co.edgectl(&["co", "add", "device", "gw1/cam-1", "--site", "plant-1"]),
        "which is no device of site `plant-1`",
    );
}

/// The device and site tables, a device as JSON and a site as YAML.
fn sites_and_devices_are_listed_and_shown_with_their_labels(co: &Co) {
    insta::assert_snapshot!(
        "list_devices_table",
        ok(&co.edgectl(&["co", "list", "devices", "--site", "plant-1"]))
    );
    insta::with_settings!({filters => vec![(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[time]")]}, {
        insta::assert_snapshot!("list_sites_table", ok(&co.edgectl(&["co", "list", "sites"])));
    });
    let d: serde_json::Value = serde_json::from_str(&ok(&co.edgectl(&[
        "-o",
        "json",
        "co",
        "show",
        "device",
        "gw1/cam-1",
    ])))
    .unwrap();
    assert_eq!(d["labels"], serde_json::json!({"line": "3"}));
    assert_eq!(d["site"], "plant-1");
    let yaml = ok(&co.edgectl(&["-o", "yaml", "co", "show", "site", "plant-1"]));
    assert!(
        yaml.contains("devices: 2") && yaml.contains("region: eu"),
        "{yaml}"
    );
}

/// The labels are in the site's and the device's TOML files.
fn labels_are_kept_in_the_workspace_files(co: &Co) {
    let ws = co.data.join("workspace/sites/plant-1");
    assert!(
        fs::read_to_string(ws.join("site.toml"))
            .unwrap()
            .contains("region = \"eu\"")
    );
    assert!(
        fs::read_to_string(ws.join("devices/gw1/cam-1.toml"))
            .unwrap()
            .contains("line = \"3\"")
    );
}

#[test]
fn api_auth_problems_metrics_and_openapi() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    let anon = co.client(None);
    health_is_open_and_the_api_needs_a_token(&anon);
    let client = co.client(Some(&co.token));
    unknown_fields_and_bad_query_parameters_are_400_problems(&client);
    oversized_bodies_are_refused_with_413(&client);
    metrics_count_requests_by_route_and_status(&client);
    the_served_openapi_document_is_the_committed_one_and_complete(&anon);
}

/// Health answers without a token; the API does not.
fn health_is_open_and_the_api_needs_a_token(anon: &edge_api::Client) {
    let health: serde_json::Value = anon.get("/api/health").unwrap();
    assert_eq!(health["status"], "ok");
    let e = anon.get::<serde_json::Value>("/api/apps").unwrap_err();
    assert!(
        matches!(e, edge_api::ClientError::Unauthorized { .. }),
        "{e}"
    );
}

/// Unknown fields are named in a 400 problem; so are unknown or malformed
/// query parameters.
fn unknown_fields_and_bad_query_parameters_are_400_problems(client: &edge_api::Client) {
    let e = client
        .post::<_, serde_json::Value>(
            "/api/sites",
            &serde_json::json!({"name": "a", "colour": "red"}),
        )
        .unwrap_err();
    let p = e.problem().unwrap();
    assert_eq!(p.status, 400);
    assert!(p.problem_type.ends_with("#invalid-request"));
    assert!(
        p.detail
            .as_deref()
            .unwrap()
            .contains("unknown field `colour`"),
        "{p:?}"
    );
    let e = client
        .get::<serde_json::Value>("/api/devices?colour=red")
        .unwrap_err();
    let p = e.problem().unwrap();
    assert_eq!(p.status, 400);
    assert!(
        p.detail
            .as_deref()
            .unwrap()
            .contains("unknown field `colour`"),
        "{p:?}"
    );
    let e = client.delete("/api/apps/x?force=maybe").unwrap_err();
    assert_eq!(e.problem().unwrap().status, 400, "{e}");
}

/// Oversized bodies are refused.
fn oversized_bodies_are_refused_with_413(client: &edge_api::Client) {
    let big = serde_json::json!({"name": "x".repeat(100_000)});
    assert_eq!(
        client
            .post::<_, serde_json::Value>("/api/sites", &big)
            .unwrap_err()
            .problem()
            .unwrap()
            .status,
        413
    );
}

/// `/metrics` counts the requests by route and status, and has the gauges.
fn metrics_count_requests_by_route_and_status(client: &edge_api::Client) {
    let metrics = client.get_text("/metrics").unwrap();
    assert!(
        metrics.contains(
            "edged_http_requests_total{method=\"POST\",route=\"/api/sites\",status=\"400\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE edged_apps gauge"));
}

/// The served OpenAPI document is the committed one, and complete.
fn the_served_openapi_document_is_the_committed_one_and_complete(anon: &edge_api::Client) {
    let served: serde_json::Value = anon.get("/api/openapi.json").unwrap();
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/apps",
        "/api/apps/upload",
        "/api/apps/{app}",
        "/api/sites",
        "/api/sites/{site}/labels",
        "/api/devices/{device}",
        "/api/status",
        "/api/health",
    ] {
        assert!(
            served["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let committed = repo_root().join("api/openapi.json");
    let generated = edged::openapi_json();
    if std::env::var_os("EDGECTL_BLESS").is_some() {
        fs::write(&committed, &generated).unwrap();
    }
    assert_eq!(
        fs::read_to_string(&committed).unwrap_or_default(),
        generated,
        "api/openapi.json is stale: run with EDGECTL_BLESS=1"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&generated).unwrap(),
        served
    );
}

#[test]
fn configuration_precedence_and_print_config() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    fs::write(
        data.join("edged.toml"),
        "listen = \"127.0.0.1:9001\"\nlog = \"debug\"\ninsecure_registries = [\"file:1\"]\n",
    )
    .unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(bin("edged"));
        c.args(["--mode", "co", "--data"])
            .arg(&data)
            .args(args)
            .arg("--print-config");
        for (k, v) in env {
            c.env(k, v);
        }
        ok(&c.output().unwrap())
    };
    let file_only = run(&[], &[]);
    assert!(
        file_only.contains("listen = \"127.0.0.1:9001\"") && file_only.contains("log = \"debug\""),
        "{file_only}"
    );
    let env = run(&[], &[("EDGED_LISTEN", "127.0.0.1:9002")]);
    assert!(env.contains("listen = \"127.0.0.1:9002\""), "{env}");
    let flag = run(
        &["--listen", "127.0.0.1:9003"],
        &[("EDGED_LISTEN", "127.0.0.1:9002")],
    );
    assert!(flag.contains("listen = \"127.0.0.1:9003\""), "{flag}");
    assert!(
        !data.join("edged.db").exists(),
        "--print-config changes nothing"
    );
    let bad = Command::new(bin("edged"))
        .args(["--mode", "co", "--data"])
        .arg(&data)
        .args(["--listen", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(err(&bad).contains("not an address"), "{}", err(&bad));
}

#[test]
fn login_keeps_the_token_in_the_keyring_or_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    let token_file = co.data.join("admin.token");
    let config = co.config_home.path().join("edgectl");

    // Inside a session keyring (as on a desktop or an SSH login) the token goes
    // to the kernel keyring and no file holds it.
    let script = format!(
        "{edgectl} login --server {url} --ca-file {ca} < {token} && {edgectl} co status",
        edgectl = bin("edgectl").display(),
        url = co.url,
        ca = co.data.join("ca/ca.crt").display(),
        token = token_file.display()
    );
    let o = Command::new("keyctl")
        .args(["session", "-", "sh", "-c", &script])
        .env("XDG_CONFIG_HOME", co.config_home.path())
        .output()
        .expect("keyctl (Debian keyutils; scripts/test installs it)");
    let text = ok(&o);
    assert!(
        text.contains("logged in to") && text.contains("health:       ok"),
        "{text}"
    );
    assert!(
        fs::read_to_string(config.join("config.toml"))
            .unwrap()
            .contains(&co.url)
    );
    let mut files: Vec<_> = fs::read_dir(&config)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(
        files[1], "config.toml",
        "the token must not be written to a file when the keyring works"
    );
    // The CA given at login is kept for the commands after it.
    assert!(
        files[0].starts_with("ca-") && files[0].ends_with(".pem"),
        "{files:?}"
    );

    // A wrong token is checked before anything is saved.
    let o = Command::new(bin("edgectl"))
        .args(["login", "--server", &co.url])
        .env("EDGE_TOKEN", "wrong")
        .env("EDGE_CA", co.data.join("ca/ca.crt"))
        .env("XDG_CONFIG_HOME", dir.path().join("other"))
        .output()
        .unwrap();
    fails(&o, "refused the token");
    assert!(!dir.path().join("other/edgectl").exists());
}

#[test]
fn a_fleet_of_devices_is_registered_in_one_commit_all_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "device", "edge-0", "--site", "plant-1"]));
    let commits = || git(&co.data.join("workspace"), &["rev-list", "--count", "HEAD"]);
    let before = commits();
    let file = dir.path().join("line-2.txt");
    let write = |text: &str| std::fs::write(&file, text).unwrap();
    let add = || {
        co.edgectl(&[
            "co",
            "add",
            "devices",
            "--site",
            "plant-1",
            "--from",
            file.to_str().unwrap(),
        ])
    };

    // One bad line, a device named twice, one that exists: nothing is registered.
    write("edge-1 line=2\nedge-2 line=2 zone\n");
    fails(&add(), "line 2");
    write("edge-1\nedge-1\n");
    fails(&add(), "`edge-1` is named twice");
    write("edge-1\nedge-0\n");
    fails(&add(), "device `edge-0` exists already");
    write("edge-1\n../x\n");
    fails(&add(), "`../x` is not a device id");
    assert_eq!(commits(), before, "nothing was committed");
    let list = ok(&co.edgectl(&["co", "list", "devices", "-o", "json"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&list)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // 2,000 devices with labels, comments and blank lines: one commit.
    let mut text = String::from("# line 2 of plant 1\n\n");
    for i in 1..=2000 {
        text.push_str(&format!("edge-{i} line=2 rack=r{}\n", i % 7));
    }
    write(&text);
    let out = ok(&add());
    assert!(
        out.contains("2000 device(s) added to site `plant-1` in one commit"),
        "{out}"
    );
    assert_eq!(
        commits().trim().parse::<u32>().unwrap(),
        before.trim().parse::<u32>().unwrap() + 1
    );
    let shown = ok(&co.edgectl(&["co", "show", "device", "edge-1999", "-o", "json"]));
    let d: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(d["labels"]["rack"], "r4", "{d}");
    assert!(
        co.data
            .join("workspace/sites/plant-1/devices/edge-2000.toml")
            .is_file()
    );

    // The API refuses more than 10,000 at once.
    let many: Vec<serde_json::Value> = (0..10_001)
        .map(|i| serde_json::json!({"id": format!("x-{i}"), "site": "plant-1"}))
        .collect();
    let r = co
        .http()
        .post(format!("{}/api/devices/batch", co.url))
        .bearer_auth(&co.token)
        .json(&serde_json::json!({"devices": many}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("1 to 10000 devices"));
}
