//! Our edge node against a fleet manager it was not built beside:
//! `tests/wfm/wfm.py` (the kit's `wfm`), a minimal Margo WFM written in
//! Python from the rc.3 specification alone. A real `edged --mode en`, with
//! the credentials that WFM minted, over mutual TLS on loopback:
//!
//! - it fetches and runs a deployment from a manifest (and a deployment
//!   document) carrying members the spec does not name and
//!   `x-…-extensions` (the deployment in rc.3's `appDeploymentManifest`
//!   form, with no `apiVersion` or `kind`), and reports it `installed` with
//!   `adoptedManifestVersion`, every report passing the WFM's own rc.3 check;
//! - its capabilities use only rc.3's vocabularies (our types as `custom`
//!   plus `x-edgectl-extensions`);
//! - a status report answered 429 + `Retry-After` comes again only after the
//!   wait, is accepted once, and the reports arrive in order;
//! - manifest polls answered 503 come again no sooner than `Retry-After`
//!   (seconds and HTTP-date), and, without one, further apart each time;
//! - an artifact fetch answered 503 + `Retry-After` is tried again no
//!   sooner, and the deployment is then installed.
//!
//! Timing is asserted only as lower bounds on the WFM's record of arrival
//! times, which load cannot break.

use std::path::PathBuf;
use std::time::Duration;

use edge_tests::co::repo_root;
use edge_tests::en::{En, programs};
use edge_tests::wait::{EVERY, within};
use edge_tests::wfm::{Request, Wfm};
use serde_json::Value;

/// The program the WFM's deployment runs.
fn program() -> PathBuf {
    repo_root().join("fixtures/packages/hello-process/components/hello.sh")
}

/// Wait up to a minute (a node that waits as it is told takes a while).
fn wait_for<T>(what: &str, log: &dyn Fn() -> String, f: impl FnMut() -> Option<T>) -> T {
    within(Duration::from_secs(90), EVERY, f)
        .unwrap_or_else(|| panic!("timed out waiting for {what}\n{}", log()))
}

fn accepted_statuses(wfm: &Wfm, id: &str) -> Vec<Request> {
    let path = format!("/api/v1/deployments/{id}/status");
    wfm.requests()
        .into_iter()
        .filter(|r| r.path == path && r.raw["accepted"] == true)
        .collect()
}

#[test]
fn a_foreign_manifest_is_run_and_reported_in_rc3_words() {
    let dir = tempfile::tempdir().unwrap();
    let wfm = Wfm::start(
        &dir.path().join("wfm"),
        &program(),
        &["--extras", "--status-answers", "429:3"],
    );
    let data = dir.path().join("en");
    let node = En::start(&wfm.credentials(), &data, &wfm.url, &[]);
    let log = || format!("{}\n--- wfm.py ---\n{}", node.log(), wfm.log());
    let id = wfm.desired()["deploymentId"].as_str().unwrap().to_owned();

    installed_from_a_manifest_with_foreign_members(&wfm, &id, &log);
    assert!(programs(&data) >= 1, "the workload runs\n{}", log());
    a_refused_report_comes_again_after_the_wait_once_and_in_order(&wfm, &id, &log);
    capabilities_in_rc3_words(&wfm, &log);
    polls_are_conditional(&wfm, &log);
    let broken: Vec<_> = wfm
        .requests()
        .into_iter()
        .filter(|r| {
            r.raw["violations"]
                .as_array()
                .is_some_and(|v| !v.is_empty())
        })
        .map(|r| r.raw)
        .collect();
    assert!(broken.is_empty(), "the WFM's rc.3 checks: {broken:#?}");
}

/// (a) The manifest and the deployment carry members rc.3 does not name and
/// `x-…-extensions`: the node fetches the deployment and its program, runs
/// it, and reports `installed` with the version it adopted.
fn installed_from_a_manifest_with_foreign_members(wfm: &Wfm, id: &str, log: &dyn Fn() -> String) {
    let installed = wait_for("an accepted `installed` report", log, || {
        accepted_statuses(wfm, id)
            .into_iter()
            .find(|r| r.raw["body"]["status"]["state"] == "installed")
    });
    let body = &installed.raw["body"];
    assert_eq!(body["deploymentId"], id);
    assert_eq!(body["adoptedManifestVersion"], 1, "{body}");
    assert_eq!(body["components"][0]["name"], "hello", "{body}");
    let requests = wfm.requests();
    let fetched = |prefix: &str| {
        requests
            .iter()
            .any(|r| r.method == "GET" && r.path.starts_with(prefix) && r.status == 200)
    };
    assert!(
        fetched(&format!("/api/v1/deployments/{id}/sha256:")),
        "{}",
        log()
    );
    assert!(fetched("/v2/hello-foreign/blobs/sha256:"), "{}", log());
}

/// (c) The first status report was answered 429 with `Retry-After: 3`: the
/// same report arrives again no sooner, is taken once, and the reports the
/// WFM took go forward only.
fn a_refused_report_comes_again_after_the_wait_once_and_in_order(
    wfm: &Wfm,
    id: &str,
    log: &dyn Fn() -> String,
) {
    let path = format!("/api/v1/deployments/{id}/status");
    let posts: Vec<Request> = wfm
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect();
    assert!(posts.len() >= 2, "{posts:#?}");
    let (refused, again) = (&posts[0], &posts[1]);
    assert_eq!(refused.status, 429, "{}", log());
    assert!(
        posts[1..].iter().all(|p| p.status != 429),
        "one refusal planned: {posts:#?}"
    );
    assert!(
        again.t - refused.t >= 3.0,
        "sent again {:.2} s after a 429 with Retry-After: 3\n{}",
        again.t - refused.t,
        log()
    );
    assert_eq!(
        again.raw["body"], refused.raw["body"],
        "the same report first"
    );
    let taken: Vec<&Value> = posts
        .iter()
        .filter(|p| p.raw["accepted"] == true)
        .map(|p| &p.raw["body"])
        .collect();
    for (i, b) in taken.iter().enumerate() {
        assert!(
            !taken[..i].contains(b),
            "a report taken twice: {b}\n{taken:#?}"
        );
    }
    let rank = |b: &Value| {
        ["pending", "installing", "installed"]
            .iter()
            .position(|s| b["status"]["state"] == *s)
            .unwrap_or(usize::MAX)
    };
    let ranks: Vec<usize> = taken.iter().map(|b| rank(b)).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "reports out of order: {taken:#?}"
    );
    assert_eq!(taken.last().map(|b| rank(b)), Some(2), "{taken:#?}");
}

/// (d) The capabilities report names only rc.3's runtimes and deployment
/// types; ours travel as `custom` plus `x-edgectl-extensions`, and the WFM's
/// check (the openapi enums, no unknown top-level member) passed.
fn capabilities_in_rc3_words(wfm: &Wfm, log: &dyn Fn() -> String) {
    let caps = wait_for("an accepted capabilities report", log, || {
        wfm.requests()
            .into_iter()
            .find(|r| r.path == "/api/v1/capabilities/edge-1" && r.raw["accepted"] == true)
    });
    assert_eq!(caps.method, "PUT");
    assert_eq!(caps.status, 201, "{}", log());
    let body = &caps.raw["body"];
    let list = |key: &str| -> Vec<String> {
        body["properties"][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let types = list("supportedDeploymentTypes");
    assert!(
        types
            .iter()
            .all(|t| ["helm", "compose", "custom"].contains(&t.as_str()))
            && types.iter().any(|t| t == "custom"),
        "{body}"
    );
    assert!(
        list("supportedRuntimes")
            .iter()
            .all(|t| ["oci", "custom"].contains(&t.as_str())),
        "{body}"
    );
    let ours = &body["x-edgectl-extensions"]["deploymentTypes"];
    assert!(
        ours.as_array()
            .is_some_and(|a| a.iter().any(|t| t == "process")),
        "{body}"
    );
    assert_eq!(caps.raw["violations"], serde_json::json!([]), "{body}");
    // The model reads our types back from it, as our fleet managers do.
    let read = edge_model::artifact::deployment_types(body);
    assert!(read.iter().any(|t| t == "process"), "{read:?}");
}

/// Polls after the first carry the manifest's ETag and get 304.
fn polls_are_conditional(wfm: &Wfm, log: &dyn Fn() -> String) {
    let etag = wfm.desired()["etag"].as_str().unwrap().to_owned();
    let unchanged = wait_for("a 304 to a conditional poll", log, || {
        wfm.requests()
            .into_iter()
            .find(|r| r.path == "/api/v1/deployments" && r.status == 304)
    });
    assert_eq!(unchanged.raw["headers"]["If-None-Match"], etag.as_str());
}

#[test]
fn refused_polls_come_again_no_sooner_than_asked_and_further_apart_each_time() {
    let dir = tempfile::tempdir().unwrap();
    // Retry-After in seconds, then as an HTTP-date (4 s or more ahead), one
    // manifest served, then four 503s with no Retry-After (a broken proxy).
    let wfm = Wfm::start(
        &dir.path().join("wfm"),
        &program(),
        &["--manifest-answers", "503:3,503:date4,ok,503,503,503,503"],
    );
    let node = En::start(&wfm.credentials(), &dir.path().join("en"), &wfm.url, &[]);
    let log = || format!("{}\n--- wfm.py ---\n{}", node.log(), wfm.log());
    let polls = wait_for("eight manifest polls", &log, || {
        let polls: Vec<Request> = wfm
            .requests()
            .into_iter()
            .filter(|r| r.path == "/api/v1/deployments")
            .collect();
        (polls.len() >= 8).then_some(polls)
    });
    let statuses: Vec<u16> = polls.iter().map(|p| p.status).collect();
    assert_eq!(
        &statuses[..7],
        [503, 503, 200, 503, 503, 503, 503],
        "{}",
        log()
    );
    let gap = |i: usize| polls[i + 1].t - polls[i].t;
    // (after the answer at i, at least seconds)
    let floors = [
        (0, 3.0, "Retry-After: 3"),
        (1, 4.0, "Retry-After as an HTTP-date 4 s or more ahead"),
        (3, 1.0, "a first back-off"),
        (4, 2.0, "a back-off doubled"),
        (5, 4.0, "a back-off doubled twice"),
        (6, 8.0, "a back-off doubled three times"),
    ];
    for (i, floor, why) in floors {
        assert!(
            gap(i) >= floor,
            "poll {} came {:.2} s after poll {i} ({why}: at least {floor} s)\ngaps: {:?}\n{}",
            i + 1,
            gap(i),
            (0..7).map(|i| format!("{:.2}", gap(i))).collect::<Vec<_>>(),
            log()
        );
    }
}

#[test]
fn a_refused_artifact_is_fetched_again_no_sooner_than_asked() {
    let dir = tempfile::tempdir().unwrap();
    let wfm = Wfm::start(
        &dir.path().join("wfm"),
        &program(),
        &["--blob-answers", "503:4"],
    );
    let node = En::start(&wfm.credentials(), &dir.path().join("en"), &wfm.url, &[]);
    let log = || format!("{}\n--- wfm.py ---\n{}", node.log(), wfm.log());
    let id = wfm.desired()["deploymentId"].as_str().unwrap().to_owned();
    wait_for("an accepted `installed` report", &log, || {
        accepted_statuses(&wfm, &id)
            .into_iter()
            .find(|r| r.raw["body"]["status"]["state"] == "installed")
    });
    let fetches: Vec<Request> = wfm
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/v2/hello-foreign/blobs/"))
        .collect();
    let statuses: Vec<u16> = fetches.iter().map(|f| f.status).collect();
    assert_eq!(statuses, [503, 200], "{}", log());
    let gap = fetches[1].t - fetches[0].t;
    assert!(
        gap >= 4.0,
        "fetched again {gap:.2} s after a 503 with Retry-After: 4\n{}",
        log()
    );
}

/// rc.3: a document whose bytes do not match the digest its manifest names
/// is not used, and a 404 on a digest is not a removal; only absence from
/// the manifest removes. Version 1 installed, the WFM moves the deployment
/// to version 2 and answers its document first with other bytes, then 404:
/// nothing is reported removing or removed at any time, the mismatch is
/// logged, and version 2 is installed (in place) once its document is
/// served as named.
#[test]
fn a_document_that_fails_its_digest_or_is_missing_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wfm = Wfm::start(
        &dir.path().join("wfm"),
        &program(),
        &["--second", "--second-yaml-answers", "corrupt,404"],
    );
    let data = dir.path().join("en");
    let node = En::start(&wfm.credentials(), &data, &wfm.url, &[]);
    let log = || format!("{}\n--- wfm.py ---\n{}", node.log(), wfm.log());
    let id = wfm.desired()["deploymentId"].as_str().unwrap().to_owned();
    let installed = |version: u64| {
        accepted_statuses(&wfm, &id).into_iter().find(|r| {
            r.raw["body"]["status"]["state"] == "installed"
                && r.raw["body"]["adoptedManifestVersion"] == version
        })
    };
    wait_for("version 1 installed", &log, || installed(1));
    let planned = |what: &str| {
        wfm.requests()
            .into_iter()
            .any(|r| r.raw["planned"].as_str() == Some(what))
    };
    wait_for("version 2's document served with other bytes", &log, || {
        planned("corrupt").then_some(())
    });
    wait_for("version 2's document answered 404", &log, || {
        planned("404").then_some(())
    });
    assert!(
        node.log().contains("digest"),
        "the mismatch is logged: {}",
        node.log()
    );
    wait_for("version 2 installed once served as named", &log, || {
        installed(2)
    });
    let removed: Vec<_> = accepted_statuses(&wfm, &id)
        .into_iter()
        .filter(|r| {
            matches!(
                r.raw["body"]["status"]["state"].as_str(),
                Some("removing" | "removed")
            )
        })
        .map(|r| r.raw)
        .collect();
    assert!(
        removed.is_empty(),
        "nothing was reported removed: {removed:#?}"
    );
}

/// rc.3: TLS 1.3 by default, 1.2 only as a fallback, never older. Our node
/// speaks TLS 1.3 alone to its fleet manager: against one that offers only
/// TLS 1.2 it gets no session and sends nothing, and says why.
#[test]
fn a_fleet_manager_offering_only_tls_1_2_gets_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let wfm = Wfm::start(&dir.path().join("wfm"), &program(), &["--tls12"]);
    let data = dir.path().join("en");
    let node = En::start(&wfm.credentials(), &data, &wfm.url, &[]);
    let log = || format!("{}\n--- wfm.py ---\n{}", node.log(), wfm.log());
    wait_for(
        "the node to say the fleet manager's TLS version is refused",
        &log,
        || {
            node.log()
                .lines()
                .any(|l| l.contains("WARN") && l.contains("ProtocolVersion"))
                .then_some(())
        },
    );
    let answered: Vec<_> = wfm.requests().into_iter().map(|r| r.raw).collect();
    assert!(answered.is_empty(), "no request got through: {answered:#?}");
}
