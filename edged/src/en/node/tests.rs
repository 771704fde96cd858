//! The executor's rules, with the fake driver: no program runs, and no
//! artifact is fetched (each test puts the ones it needs in the store first;
//! the fleet manager's address cannot be reached, so one missing stays
//! missing).

use std::path::Path;
use std::sync::Arc;

use edge_model::status::State;
use edge_runtime::process::RestartPolicy;
use edge_runtime::{ComponentError, FailureCode};
use serde_json::Value;

use super::Node;
use super::fake::{Behaviour, CRASH, Call, FakeDriver};
use crate::cas::Cas;
use crate::en::state::{Db, DesiredSet, Doc};

const A: &str = "0a0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";
const B: &str = "1b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";
const C: &str = "2c0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";

/// An executor over `dir` (its `en.db`, store and workloads), with `fake`
/// as its only driver.
fn node_in(dir: &Path, fake: &FakeDriver) -> Node {
    Node::new(
        Arc::new(Db::open(&dir.join("en.db")).unwrap()),
        Cas::in_data(dir).unwrap(),
        "edge-1".into(),
        // Not a scheme the HTTP client speaks: nothing is ever fetched.
        "none:".into(),
        vec![Arc::new(fake.clone())],
        reqwest::blocking::Client::new(),
        dir.join("workloads"),
        RestartPolicy::default(),
        1 << 20,
    )
    .unwrap()
}

/// One component of a test deployment.
struct Comp<'a> {
    name: &'a str,
    /// The artifact's bytes (stored or not).
    artifact: &'a [u8],
    wait: bool,
    timeout: &'a str,
}

fn comp<'a>(name: &'a str, artifact: &'a [u8]) -> Comp<'a> {
    Comp {
        name,
        artifact,
        wait: true,
        timeout: "1m00s",
    }
}

/// Deployment `id` of app version `version`, as served.
fn doc(id: &str, version: &str, comps: &[Comp<'_>]) -> Doc {
    let components: String = comps
        .iter()
        .map(|c| {
            format!(
                "      - name: {name}
        properties:
          repository: ./components/{name}.sh
          revision: {version}
          wait: {wait}
          timeout: {timeout}
        x-edgectl-extensions:
          artifact:
            digest: {digest}
            size: {size}
            mediaType: application/vnd.edgectl.file.v1
",
                name = c.name,
                wait = c.wait,
                timeout = c.timeout,
                digest = edge_model::digest::sha256(c.artifact),
                size = c.artifact.len(),
            )
        })
        .collect();
    let yaml = format!(
        "apiVersion: application.margo.org/v1alpha1
kind: ApplicationDeployment
metadata:
  annotations:
    id: {id}
    applicationId: app-{id8}
  name: app-{id8}
  namespace: margo
  deviceId: edge-1
  labels:
    app.version: {version}
spec:
  applicationId: app-{id8}
  deploymentProfile:
    type: process
    components:
{components}",
        id8 = &id[..8],
    );
    let bytes = yaml.into_bytes();
    Doc {
        id: id.to_owned(),
        digest: edge_model::digest::sha256(&bytes).to_string(),
        bytes,
    }
}

/// Keep `docs` as manifest `version` (as the poller does) and reconcile.
fn apply(node: &Node, version: u64, docs: Vec<Doc>) {
    let set = DesiredSet {
        version,
        etag: String::new(),
        docs,
    };
    node.db.set_desired(&set).unwrap();
    node.reconcile(&set);
}

/// The status reports queued since the last call, oldest first.
fn reports(node: &Node) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(q) = node.db.next().unwrap() {
        node.db.done(q.seq).unwrap();
        if q.kind == "status" {
            out.push(serde_json::from_slice(&q.body).unwrap());
        }
    }
    out
}

/// The newest report of deployment `id` among `reports`.
fn last<'a>(reports: &'a [Value], id: &str) -> &'a Value {
    reports
        .iter()
        .rev()
        .find(|r| r["deploymentId"] == id)
        .unwrap_or_else(|| panic!("no report of {id} in {reports:#?}"))
}

/// (state, error code) of every component in a report.
fn states(report: &Value) -> Vec<(String, Option<String>)> {
    report["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["state"].as_str().unwrap().to_owned(),
                c["error"]["code"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn installed(n: usize) -> Vec<(String, Option<String>)> {
    vec![("installed".to_owned(), None); n]
}

fn start(key: &str) -> Call {
    Call::Start(key.to_owned())
}

fn stop(key: &str) -> Call {
    Call::Stop(key.to_owned())
}

fn clean(key: &str) -> Call {
    Call::Clean(key.to_owned())
}

fn key(id: &str, component: &str) -> String {
    format!("{id}/{component}")
}

#[test]
fn a_missing_artifact_keeps_the_previous_version_running_reported_failed() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDriver::new();
    let node = node_in(dir.path(), &fake);
    node.cas.put(b"v1").unwrap();
    apply(&node, 1, vec![doc(A, "1.0.0", &[comp("app", b"v1")])]);
    let r = reports(&node);
    assert_eq!(states(last(&r, A)), installed(1));
    assert_eq!(last(&r, A)["adoptedManifestVersion"], 1);

    // The update's artifact cannot be had: what runs stays.
    apply(&node, 2, vec![doc(A, "2.0.0", &[comp("app", b"v2")])]);
    assert_eq!(fake.calls(), [start(&key(A, "app"))], "nothing stopped");
    let r = reports(&node);
    let report = last(&r, A);
    assert_eq!(
        states(report),
        [("failed".to_owned(), Some("ARTIFACT".to_owned()))]
    );
    let message = report["components"][0]["error"]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.ends_with("; the previous version keeps running"),
        "{message}"
    );
    assert!(node.has_failed_installs());
    let rows = node.workloads(&Default::default());
    assert!(
        rows[0].pid.is_none() && rows[0].state == "failed",
        "{rows:?}"
    );

    // Once it can be had, a retry puts the update in.
    node.cas.put(b"v2").unwrap();
    node.retry_failed();
    assert_eq!(
        fake.calls(),
        [
            start(&key(A, "app")),
            stop(&key(A, "app")),
            clean(&key(A, "app")),
            start(&key(A, "app"))
        ]
    );
    let r = reports(&node);
    assert_eq!(states(last(&r, A)), installed(1));
    assert_eq!(last(&r, A)["adoptedManifestVersion"], 2);
    assert!(!node.has_failed_installs());
}

#[test]
fn a_first_install_without_its_artifact_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDriver::new();
    let node = node_in(dir.path(), &fake);
    node.cas.put(b"first").unwrap();
    apply(
        &node,
        1,
        vec![doc(
            A,
            "1.0.0",
            &[comp("first", b"first"), comp("second", b"absent")],
        )],
    );
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    let r = reports(&node);
    assert_eq!(
        states(last(&r, A)),
        [
            ("pending".to_owned(), None),
            ("failed".to_owned(), Some("ARTIFACT".to_owned()))
        ]
    );
    assert_eq!(last(&r, A)["status"]["state"], "failed");
    assert!(
        node.db.applied().unwrap().is_empty(),
        "not recorded as applied"
    );
}

#[test]
fn a_crash_loop_is_failed_and_installed_again_when_a_restart_brings_it_up() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDriver::new();
    let node = node_in(dir.path(), &fake);
    node.cas.put(b"app").unwrap();
    let docs = vec![doc(A, "1.0.0", &[comp("app", b"app")])];
    apply(&node, 1, docs.clone());
    assert_eq!(states(last(&reports(&node), A)), installed(1));

    let exited = ComponentError::new(FailureCode::Exited, "exited with status 1; restarting");
    fake.set(&key(A, "app"), State::Failed, Some(exited), 1);
    node.observe();
    let r = reports(&node);
    assert_eq!(
        states(last(&r, A)),
        [("failed".to_owned(), Some("EXITED".to_owned()))]
    );
    node.observe();
    assert!(
        reports(&node).is_empty(),
        "an unchanged state is not reported again"
    );

    fake.set(&key(A, "app"), State::Installed, None, 1);
    node.observe();
    assert_eq!(states(last(&reports(&node), A)), installed(1));
    let rows = node.workloads(&Default::default());
    assert_eq!((rows[0].restarts, rows[0].state.as_str()), (1, "installed"));

    // Given up on: failed for good, and still the supervisor's, not the
    // planner's: the same manifest installs nothing again.
    let gave_up = ComponentError::new(FailureCode::GaveUp, "exited; gave up after 10 restarts");
    fake.set(&key(A, "app"), State::Failed, Some(gave_up), 10);
    node.observe();
    assert_eq!(
        states(last(&reports(&node), A)),
        [("failed".to_owned(), Some("GAVE_UP".to_owned()))]
    );
    assert!(!node.has_failed_installs());
    apply(&node, 1, docs);
    assert_eq!(fake.calls(), [start(&key(A, "app"))]);
}

#[test]
fn a_new_executor_over_the_same_state_finishes_an_install_and_ends_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDriver::new();
    let node = node_in(dir.path(), &fake);
    node.cas.put(b"app").unwrap();
    let (a, b, c) = (
        doc(A, "1.0.0", &[comp("app", b"app")]),
        doc(B, "1.0.0", &[comp("app", b"app")]),
        doc(C, "1.0.0", &[comp("one", b"app"), comp("two", b"app")]),
    );
    apply(&node, 1, vec![a.clone(), b.clone()]);
    // Killed while installing C: recorded as applied, nothing of it started.
    node.db.set_applied(&c, 2).unwrap();
    drop(node);
    let before = fake.calls();
    assert!(!before.iter().any(|c| matches!(c, Call::Stop(_))));

    // Restarted: B left the manifest, C is still in it.
    let fake = FakeDriver::new();
    let node = node_in(dir.path(), &fake);
    let rows = node.workloads(&Default::default());
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.iter().all(|r| r.state == "removed"), "{rows:?}");
    apply(&node, 2, vec![a, c]);
    assert_eq!(
        fake.calls(),
        [
            clean(&key(B, "app")),
            start(&key(A, "app")),
            start(&key(C, "one")),
            start(&key(C, "two")),
        ]
    );
    let mut applied: Vec<String> = node
        .db
        .applied()
        .unwrap()
        .into_iter()
        .map(|(d, _)| d.id)
        .collect();
    applied.sort();
    assert_eq!(applied, [A, C]);
    let r = reports(&node);
    assert_eq!(last(&r, B)["status"]["state"], "removed");
    assert_eq!(states(last(&r, A)), installed(1));
    assert_eq!(states(last(&r, C)), installed(2));
    assert_eq!(last(&r, C)["adoptedManifestVersion"], 2);
}

#[test]
fn removals_come_before_installs_and_components_go_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDriver::new();
    let node = node_in(dir.path(), &fake);
    node.cas.put(b"x").unwrap();
    let a = doc(A, "1.0.0", &[comp("first", b"x"), comp("second", b"x")]);
    apply(&node, 1, vec![a.clone()]);
    assert_eq!(
        fake.calls(),
        [start(&key(A, "first")), start(&key(A, "second"))]
    );
    reports(&node);
    // B comes first in the manifest; A's removal still goes first.
    let b = doc(B, "1.0.0", &[comp("one", b"x"), comp("two", b"x")]);
    apply(&node, 2, vec![b]);
    assert_eq!(
        fake.calls()[2..],
        [
            stop(&key(A, "second")),
            clean(&key(A, "second")),
            stop(&key(A, "first")),
            clean(&key(A, "first")),
            start(&key(B, "one")),
            start(&key(B, "two")),
        ]
    );
    let r = reports(&node);
    let a_states: Vec<&Value> = r
        .iter()
        .filter(|x| x["deploymentId"] == A)
        .map(|x| &x["status"]["state"])
        .collect();
    assert_eq!(a_states, ["removing", "removed"]);
    assert!(!dir.path().join("workloads").join(A).exists());
    assert_eq!(node.db.applied().unwrap().len(), 1);
}

#[test]
fn a_component_that_never_comes_up_times_out_and_the_next_is_not_started() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDriver::new();
    fake.behave("slow", Behaviour::Never);
    let node = node_in(dir.path(), &fake);
    node.cas.put(b"x").unwrap();
    let slow = Comp {
        timeout: "0m1s",
        ..comp("slow", b"x")
    };
    let started = std::time::Instant::now();
    apply(&node, 1, vec![doc(A, "1.0.0", &[slow, comp("next", b"x")])]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(
        fake.calls(),
        [start(&key(A, "slow")), stop(&key(A, "slow"))],
        "the next component is not started"
    );
    let r = reports(&node);
    let report = last(&r, A);
    assert_eq!(
        states(report),
        [
            ("failed".to_owned(), Some("TIMEOUT".to_owned())),
            ("failed".to_owned(), Some("NOT_STARTED".to_owned()))
        ]
    );
    assert_eq!(
        report["components"][0]["error"]["message"],
        "not running within 1s"
    );
    // The sources rc.3 asks for: the deployment's metadata.name overall,
    // each component's name on its own error.
    assert_eq!(report["status"]["error"]["source"], "app-0a0e5f0c");
    assert_eq!(report["components"][0]["error"]["source"], "slow");
    assert_eq!(report["components"][1]["error"]["source"], "next");
    assert!(node.has_failed_installs(), "retried later");
}

#[test]
fn without_wait_the_next_component_starts_at_once_and_a_refused_start_fails() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDriver::new();
    fake.behave("slow", Behaviour::Never);
    fake.behave("broken", Behaviour::Refuse);
    let node = node_in(dir.path(), &fake);
    node.cas.put(b"x").unwrap();
    let slow = Comp {
        wait: false,
        ..comp("slow", b"x")
    };
    apply(
        &node,
        1,
        vec![
            doc(A, "1.0.0", &[slow, comp("next", b"x")]),
            doc(B, "1.0.0", &[comp("broken", b"x")]),
        ],
    );
    assert_eq!(
        fake.calls(),
        [
            start(&key(A, "slow")),
            start(&key(A, "next")),
            start(&key(B, "broken"))
        ]
    );
    let r = reports(&node);
    assert_eq!(
        states(last(&r, A)),
        [
            ("installing".to_owned(), None),
            ("installed".to_owned(), None)
        ]
    );
    assert_eq!(
        states(last(&r, B)),
        [("failed".to_owned(), Some("START".to_owned()))]
    );
}

#[test]
fn an_operator_stop_holds_a_workload_failed_until_started() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDriver::new();
    let node = node_in(dir.path(), &fake);
    node.cas.put(b"x").unwrap();
    apply(&node, 1, vec![doc(A, "1.0.0", &[comp("app", b"x")])]);
    reports(&node);
    let w = node.find("app-0a0e5f0c").unwrap();
    assert!(node.find("nothing").is_err());
    // A unique start of the id names it too; too short a start does not.
    assert_eq!(node.find(&A[..8]).unwrap(), w);
    assert!(node.find(&A[..3]).is_err());
    node.stop_workload(&w);
    node.observe();
    assert_eq!(
        states(last(&reports(&node), A)),
        [("failed".to_owned(), Some("STOPPED".to_owned()))]
    );
    assert!(node.start_workload(&w).unwrap(), "started again");
    node.observe();
    assert_eq!(states(last(&reports(&node), A)), installed(1));
    assert_eq!(
        fake.calls(),
        [
            start(&key(A, "app")),
            stop(&key(A, "app")),
            start(&key(A, "app"))
        ]
    );
}

#[test]
fn a_component_that_crashed_while_starting_counts_as_up_once_it_lasts() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDriver::new();
    fake.behave("flaky", Behaviour::CrashOnce);
    fake.behave("looping", Behaviour::GiveUp);
    let node = node_in(dir.path(), &fake);
    node.cas.put(b"x").unwrap();
    let started = std::time::Instant::now();
    apply(&node, 1, vec![doc(A, "1.0.0", &[comp("flaky", b"x")])]);
    assert!(
        started.elapsed() >= CRASH + super::SETTLE,
        "up only after running {:?} again",
        super::SETTLE
    );
    let r = reports(&node);
    assert_eq!(states(last(&r, A)), installed(1));
    assert_eq!(node.workloads(&Default::default())[0].restarts, 1);

    // A crash loop given up on is final: no waiting for the timeout.
    let started = std::time::Instant::now();
    apply(&node, 2, vec![doc(B, "1.0.0", &[comp("looping", b"x")])]);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(
        states(last(&reports(&node), B)),
        [("failed".to_owned(), Some("GAVE_UP".to_owned()))]
    );
    assert_eq!(
        fake.calls()[1..],
        [
            stop(&key(A, "flaky")),
            clean(&key(A, "flaky")),
            start(&key(B, "looping")),
            stop(&key(B, "looping"))
        ]
    );
}

#[test]
fn a_component_running_only_for_an_instant_is_not_installed() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDriver::new();
    fake.behave("spin", Behaviour::FailsAtOnce);
    let node = node_in(dir.path(), &fake);
    node.cas.put(b"x").unwrap();
    apply(&node, 1, vec![doc(A, "1.0.0", &[comp("spin", b"x")])]);
    assert_eq!(
        states(last(&reports(&node), A)),
        [("failed".to_owned(), Some("GAVE_UP".to_owned()))]
    );
}

#[test]
fn an_update_replaces_only_the_components_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDriver::new();
    let node = node_in(dir.path(), &fake);
    for a in [&b"a"[..], b"b1", b"c"] {
        node.cas.put(a).unwrap();
    }
    let v1 = [comp("a", b"a"), comp("b", b"b1"), comp("c", b"c")];
    apply(&node, 1, vec![doc(A, "1.0.0", &v1)]);
    let first = reports(&node);
    assert_eq!(states(last(&first, A)), installed(3));
    let started = fake.calls();

    // The update changes b's artifact and drops c; `a` runs on untouched.
    node.cas.put(b"b2").unwrap();
    let v2 = [comp("a", b"a"), comp("b", b"b2")];
    apply(&node, 2, vec![doc(A, "1.0.0", &v2)]);
    let calls = fake.calls();
    assert_eq!(
        calls[started.len()..],
        [
            stop(&key(A, "c")),
            clean(&key(A, "c")),
            stop(&key(A, "b")),
            clean(&key(A, "b")),
            start(&key(A, "b")),
        ]
    );
    let r = reports(&node);
    // The transition is reported: b installing while a stays installed,
    // then both installed at the new manifest version.
    assert!(
        r.iter().any(|rep| rep["deploymentId"] == A
            && states(rep)
                == [
                    ("installed".to_owned(), None),
                    ("installing".to_owned(), None)
                ]),
        "{r:#?}"
    );
    assert_eq!(states(last(&r, A)), installed(2));
    assert_eq!(last(&r, A)["adoptedManifestVersion"], 2);
    assert!(!dir.path().join("workloads").join(A).join("c").exists());
}

#[test]
fn a_helm_deployment_is_refused_as_not_supported_before_anything_is_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDriver::new();
    let node = node_in(dir.path(), &fake);
    let yaml = format!(
        "apiVersion: application.margo.org/v1alpha1
kind: ApplicationDeployment
metadata:
  annotations:
    id: {A}
    applicationId: hello-helm
  name: hello-helm
  namespace: margo
  deviceId: edge-1
spec:
  applicationId: hello-helm
  deploymentProfile:
    type: helm.v3
    components:
      - name: hello
        properties:
          repository: oci://northstarida.azurecr.io/charts/hello-world
          revision: 0.1.0
"
    );
    let bytes = yaml.into_bytes();
    let helm = Doc {
        id: A.to_owned(),
        digest: edge_model::digest::sha256(&bytes).to_string(),
        bytes,
    };
    apply(&node, 1, vec![helm]);
    assert!(fake.calls().is_empty(), "nothing started");
    let r = reports(&node);
    let report = last(&r, A);
    assert_eq!(
        states(report),
        [("failed".to_owned(), Some("UNSUPPORTED".to_owned()))]
    );
    let message = report["components"][0]["error"]["message"]
        .as_str()
        .unwrap();
    assert_eq!(
        message,
        "Helm is not supported on this node: it has no `helm` runtime (it runs process)"
    );
}
