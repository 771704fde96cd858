//! Attacks on the north API: missing, wrong and revoked tokens, scope
//! escalation, tokens on the command line, and the audit log recording every
//! change and every refusal.

use std::process::Command;

use edge_tests::co::{Co, bin, fails, ok};

/// A token made with `edgectl co token create NAME --scope SCOPE` (by the
/// admin token), as printed: the token alone on stdout.
fn make_token(co: &Co, name: &str, scope: &str) -> String {
    let out = ok(&co.edgectl(&["co", "token", "create", name, "--scope", scope]));
    let token = out.trim().to_owned();
    assert!(token.starts_with("edgt_") && !token.contains('\n'), "{out}");
    token
}

/// `edgectl ARGS` as the holder of `token`.
fn as_token(co: &Co, token: &str, args: &[&str]) -> std::process::Output {
    co.edgectl_command(args)
        .env("EDGE_TOKEN", token)
        .output()
        .unwrap()
}

/// `edgectl co deploy` of hello-wasm to edge-1 at plant-1, as the holder of `token`.
fn deploy_hello(co: &Co, token: &str) -> std::process::Output {
    as_token(
        co,
        token,
        &[
            "co",
            "deploy",
            "--app",
            "hello-wasm",
            "--site",
            "plant-1",
            "--device",
            "edge-1",
            "--allow-unreported",
        ],
    )
}

fn site_with_a_device(co: &Co) {
    co.add_app("fixtures/packages/hello-wasm");
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "device", "edge-1", "--site", "plant-1"]));
}

#[test]
fn a_scoped_token_cannot_do_more_than_its_scope_and_a_revoked_one_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    site_with_a_device(&co);
    let reader = make_token(&co, "dashboard", "read");
    let deployer = make_token(&co, "ci", "deploy");

    // read: every read, no change.
    ok(&as_token(&co, &reader, &["co", "list", "apps"]));
    ok(&as_token(&co, &reader, &["co", "status"]));
    let o = deploy_hello(&co, &reader);
    fails(&o, "scope `read`");
    fails(
        &as_token(&co, &reader, &["co", "token", "list"]),
        "needs `admin`",
    );
    fails(&as_token(&co, &reader, &["co", "audit"]), "needs `admin`");

    // deploy: changes what runs, but not the store, identities or tokens.
    ok(&deploy_hello(&co, &deployer));
    fails(
        &as_token(&co, &deployer, &["co", "add", "site", "plant-9"]),
        "needs `admin`",
    );
    fails(
        &as_token(
            &co,
            &deployer,
            &["co", "token", "create", "mine", "--scope", "admin"],
        ),
        "needs `admin`",
    );
    let o = as_token(
        &co,
        &deployer,
        &[
            "co",
            "enroll",
            "--site",
            "plant-1",
            "--device",
            "edge-1",
            "--out",
            dir.path().join("stolen").to_str().unwrap(),
        ],
    );
    fails(&o, "needs `admin`");
    assert!(!dir.path().join("stolen/identity.key").exists());

    // The commit names who deployed.
    let log = edge_tests::co::git(
        &co.data.join("sites/plant-1"),
        &["log", "-1", "--format=%B"],
    );
    assert!(log.contains("by: ci"), "{log}");

    // Revoked: refused at once, like an unknown token; listed as revoked.
    ok(&co.edgectl(&["co", "token", "revoke", "ci"]));
    fails(
        &as_token(&co, &deployer, &["co", "list", "apps"]),
        "refused the token",
    );
    let list: serde_json::Value =
        serde_json::from_str(&ok(&co.edgectl(&["-o", "json", "co", "token", "list"]))).unwrap();
    let ci = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap();
    assert!(ci["revokedAt"].is_string(), "{list}");
    assert!(
        ci.get("token").is_none(),
        "a listing never carries a secret: {list}"
    );

    // A name is used once; the bootstrap name is reserved.
    fails(
        &co.edgectl(&["co", "token", "create", "dashboard", "--scope", "read"]),
        "exists",
    );
    fails(
        &co.edgectl(&["co", "token", "create", "admin.token", "--scope", "read"]),
        "bootstrap",
    );

    // Tokens are kept as hashes: no secret is in the database files.
    for name in ["edged.db", "edged.db-wal"] {
        let bytes = std::fs::read(co.data.join(name)).unwrap_or_default();
        for secret in [&reader, &deployer] {
            let tail = secret.rsplit('_').next().unwrap();
            assert!(
                !bytes.windows(tail.len()).any(|w| w == tail.as_bytes()),
                "the secret of a token is stored in {name}"
            );
        }
    }
}

#[test]
fn every_change_and_every_refusal_is_in_the_audit_log_with_who_and_from_where() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    site_with_a_device(&co);
    let deployer = make_token(&co, "ci", "deploy");
    ok(&deploy_hello(&co, &deployer));
    fails(
        &as_token(&co, "edgt_0000_wrong", &["co", "list", "apps"]),
        "refused the token",
    );
    fails(
        &as_token(&co, &deployer, &["co", "add", "site", "x"]),
        "needs `admin`",
    );

    let out = ok(&co.edgectl(&["-o", "json", "co", "audit"]));
    let entries: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let find = |actor: &str, method: &str, path: &str, status: u64| {
        entries
            .iter()
            .find(|e| {
                e["actor"] == actor
                    && e["method"] == method
                    && e["path"] == path
                    && e["status"] == status
            })
            .unwrap_or_else(|| panic!("no audit entry {actor} {method} {path} {status} in {out}"))
    };
    let deploy = find("ci", "POST", "/api/deployments", 201);
    assert!(
        deploy["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{deploy}"
    );
    assert!(deploy["at"].as_str().unwrap().ends_with('Z'));
    find("admin.token", "POST", "/api/apps/upload", 201);
    find("admin.token", "POST", "/api/tokens", 201);
    find("-", "GET", "/api/apps", 401);
    find("ci", "POST", "/api/sites", 403);
    assert!(
        !entries
            .iter()
            .any(|e| e["method"] == "GET" && e["status"] == 200),
        "successful reads are not audited: {out}"
    );
    // Positions grow; `--after` pages.
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let last = *seqs.last().unwrap();
    let later: Vec<serde_json::Value> = serde_json::from_str(&ok(&co.edgectl(&[
        "-o",
        "json",
        "co",
        "audit",
        "--after",
        &last.to_string(),
    ])))
    .unwrap();
    // The `co audit` asked for above is a read: nothing new but reads since.
    assert!(later.is_empty(), "{later:?}");

    // The log survives a restart.
    let data = co.data.clone();
    assert!(co.stop().success());
    let co = Co::start(&data, &[]);
    let again: Vec<serde_json::Value> =
        serde_json::from_str(&ok(&co.edgectl(&["-o", "json", "co", "audit"]))).unwrap();
    assert!(again.len() >= entries.len());
}

#[test]
fn no_route_but_health_and_the_api_document_answers_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    let http = co.http();
    let doc: serde_json::Value = http
        .get(format!("{}/api/openapi.json", co.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let filled = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in ops.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for auth in [None, Some("Bearer wrong"), Some("Bearer edgt_abc_def")] {
                let mut req = http.request(m.clone(), format!("{}{filled}", co.url));
                if let Some(a) = auth {
                    req = req.header("Authorization", a);
                }
                let status = req.send().unwrap().status().as_u16();
                if path == "/api/health" {
                    assert_eq!(status, 200);
                } else {
                    assert_eq!(status, 401, "{method} {path} with {auth:?}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 60, "only {checked} requests checked");
    // /metrics is not in the document and needs a token too.
    let status = http
        .get(format!("{}/metrics", co.url))
        .send()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
}

#[test]
fn a_token_is_never_taken_on_the_command_line_but_from_a_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    let o = Command::new(bin("edgectl"))
        .args(["--server", &co.url, "--token", &co.token, "co", "status"])
        .env_remove("EDGE_TOKEN")
        .env("EDGE_CA", co.data.join("ca/ca.crt"))
        .env("XDG_CONFIG_HOME", co.config_home.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{}\n", co.token)).unwrap();
    ok(&Command::new(bin("edgectl"))
        .args([
            "--server",
            &co.url,
            "--token-file",
            file.to_str().unwrap(),
            "co",
            "status",
        ])
        .env_remove("EDGE_TOKEN")
        .env("EDGE_CA", co.data.join("ca/ca.crt"))
        .env("XDG_CONFIG_HOME", co.config_home.path())
        .output()
        .unwrap());
    std::fs::write(&file, "").unwrap();
    fails(
        &Command::new(bin("edgectl"))
            .args([
                "--server",
                &co.url,
                "--token-file",
                file.to_str().unwrap(),
                "co",
                "status",
            ])
            .env("XDG_CONFIG_HOME", co.config_home.path())
            .output()
            .unwrap(),
        "is empty",
    );
}

#[test]
fn the_north_api_is_tls_only_and_a_client_checks_whom_it_talks_to() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    assert!(co.url.starts_with("https://127.0.0.1:"), "{}", co.url);
    ok(&co.edgectl(&["co", "status"]));

    // Plain HTTP gets no answer: the token would have crossed in the clear.
    let plain = co.url.replacen("https://", "http://", 1);
    let r = reqwest::blocking::Client::new()
        .get(format!("{plain}/api/status"))
        .bearer_auth(&co.token)
        .send();
    assert!(r.is_err() || !r.unwrap().status().is_success());

    // A client that does not trust the CO's CA refuses to send the token.
    let o = Command::new(bin("edgectl"))
        .args(["--server", &co.url, "co", "status"])
        .env("EDGE_TOKEN", &co.token)
        .env_remove("EDGE_CA")
        .env("XDG_CONFIG_HOME", co.config_home.path())
        .output()
        .unwrap();
    fails(&o, "cannot reach the server");

    // The operator's own certificate (from the operator's own CA) instead of
    // one from the CO's CA.
    let (cert, key, op_ca) = (
        dir.path().join("north.crt"),
        dir.path().join("north.key"),
        dir.path().join("op-ca.crt"),
    );
    let script = "set -e
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=op-ca \
          -days 1 -keyout op-ca.key -out op-ca.crt 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
          -keyout north.key -out north.csr 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext
        openssl x509 -req -in north.csr -CA op-ca.crt -CAkey op-ca.key -CAcreateserial -days 1 \
          -extfile ext -out north.crt 2>/dev/null";
    let made = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir.path())
        .output()
        .expect("sh and openssl (scripts/test installs openssl)");
    assert!(made.status.success(), "{made:?}");
    let data = co.data.clone();
    assert!(co.stop().success());
    let co = Co::start(
        &data,
        &[
            "--north-cert",
            cert.to_str().unwrap(),
            "--north-key",
            key.to_str().unwrap(),
        ],
    );
    // The CO's CA no longer vouches for the north API; the operator's does.
    fails(&co.edgectl(&["co", "status"]), "cannot reach the server");
    let o = co
        .edgectl_command(&["co", "status"])
        .env("EDGE_CA", &op_ca)
        .output()
        .unwrap();
    ok(&o);

    // A certificate without its key is refused at start, naming the flag.
    let o = Command::new(bin("edged"))
        .args(["--mode", "co", "--data"])
        .arg(dir.path().join("other"))
        .args(["--north-cert", cert.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--north-key"),
        "{o:?}"
    );
}

/// The day-2 write routes (`/api/apply`, `/api/deployments/update`): a read
/// token is refused; an apply body over its 8 MiB bound is a 413 and one of
/// more than 10,000 entries a 400, each refused before any work, with no
/// commit and nothing deployed.
#[test]
fn the_apply_update_and_rollout_routes_keep_to_scope_and_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    site_with_a_device(&co);
    ok(&deploy_hello(&co, &co.token));
    let repo = co.data.join("sites/plant-1");
    let commits = || edge_tests::co::git(&repo, &["rev-list", "--count", "HEAD"]);
    let before = commits();
    let reader = make_token(&co, "looker", "read");
    let http = co.http();
    let post = |path: &str, token: &str, body: Vec<u8>| {
        http.post(format!("{}{path}", co.url))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let entry = serde_json::json!({"source": "f: deployments[0]", "app": "hello-wasm", "site": "plant-1", "devices": ["edge-1"], "name": "x"});
    let one = serde_json::to_vec(&serde_json::json!({"entries": [entry]})).unwrap();
    assert_eq!(post("/api/apply", &reader, one), 403);
    let update = br#"{"app": "hello-wasm", "site": "plant-1", "set": {"greeting": "x"}}"#.to_vec();
    assert_eq!(post("/api/deployments/update", &reader, update), 403);
    // Steering rollouts needs `deploy`; a policy out of bounds changes nothing.
    assert_eq!(post("/api/rollouts/1/undo", &reader, b"{}".to_vec()), 403);
    assert_eq!(post("/api/rollouts/1/pause", &reader, b"{}".to_vec()), 403);
    // Registering devices in bulk is for admins; a deploy token may not either.
    let fleet = br#"{"devices": [{"id": "intruder", "site": "plant-1"}]}"#.to_vec();
    assert_eq!(post("/api/devices/batch", &reader, fleet.clone()), 403);
    let deployer = make_token(&co, "deployer", "deploy");
    assert_eq!(post("/api/devices/batch", &deployer, fleet), 403);
    let mut huge = br#"{"devices": [], "pad": ""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 5 * 1024 * 1024));
    huge.extend(br#""}"#);
    assert_eq!(post("/api/devices/batch", &co.token, huge), 413);
    let waves: Vec<String> = (1..=101).map(|n| n.to_string()).collect();
    let flood = serde_json::to_vec(&serde_json::json!({"app": "hello-wasm", "site": "plant-1",
        "set": {"greeting": "y"}, "rollout": {"waves": waves}}))
    .unwrap();
    assert_eq!(post("/api/deployments/update", &co.token, flood), 400);
    let huge = br#"{"app": "hello-wasm", "site": "plant-1", "set": {"greeting": "y"},
        "rollout": {"waves": ["1"], "waveTimeoutSecs": 99999999999}}"#
        .to_vec();
    assert_eq!(post("/api/deployments/update", &co.token, huge), 400);

    let mut big = br#"{"entries": [], "pad": ""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 9 * 1024 * 1024));
    big.extend(br#""}"#);
    assert_eq!(post("/api/apply", &co.token, big), 413);
    let many = serde_json::to_vec(&serde_json::json!({"entries": vec![entry; 10_001]})).unwrap();
    assert!(many.len() < 8 * 1024 * 1024);
    let r = http
        .post(format!("{}/api/apply", co.url))
        .bearer_auth(&co.token)
        .header("content-type", "application/json")
        .body(many)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().unwrap();
    assert!(text.contains("at most 10000"), "{text}");

    assert_eq!(commits(), before, "nothing was committed");
    let list = ok(&co.edgectl(&["co", "list", "deployments", "-o", "json"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&list)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// The CA's rotation is the admin's alone: a read or deploy token sees the
/// anchors but cannot stage, activate or retire, and nothing changes.
#[test]
fn only_an_admin_token_rotates_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    let before = std::fs::read(co.data.join("ca/ca.crt")).unwrap();
    for scope in ["read", "deploy"] {
        let token = make_token(&co, scope, scope);
        ok(&as_token(&co, &token, &["co", "ca", "show"]));
        for step in [
            &["co", "ca", "stage"][..],
            &["co", "ca", "activate", "--force"],
        ] {
            let out = as_token(&co, &token, step);
            fails(&out, "needs `admin`");
        }
    }
    assert_eq!(std::fs::read(co.data.join("ca/ca.crt")).unwrap(), before);
    assert!(!co.data.join("ca/state.json").exists(), "no step was taken");
}
