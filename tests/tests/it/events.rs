//! The CO's event stream through `edgectl co watch -o json`: changes in the
//! order they happen (a site, a device, a deployment, the node's status as
//! it installs, labels), a site filter (an unknown site refused, naming the
//! known ones), a watch started again with `--since` getting exactly what
//! it missed, and ids that keep growing across restarts of the CO.

use std::io::BufRead as _;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use edge_tests::co::{Co, fails, ok};
use edge_tests::en::En;
use edge_tests::fleet::{deploy_to, fleet};
use edge_tests::lo::Lo;
use serde_json::Value;

/// A running `edgectl co watch`, its events arriving on a channel.
struct Watch {
    child: Child,
    events: Receiver<Value>,
}

impl Watch {
    fn start(co: &Co, extra: &[&str]) -> Watch {
        let mut args = vec!["co", "watch", "-o", "json"];
        args.extend(extra);
        let mut child = co
            .edgectl_command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    break;
                }
            }
        });
        Watch { child, events }
    }

    /// The next event matching `want`, skipping others, within 20 s.
    fn until(&self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if want(&e) => return e,
                Ok(_) => {}
                Err(_) => panic!("no event: {what}"),
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is(kind: &str, subject: &str) -> impl Fn(&Value) -> bool {
    let (kind, subject) = (kind.to_owned(), subject.to_owned());
    move |e| e["kind"] == kind.as_str() && e["subject"] == subject.as_str()
}

#[test]
fn changes_stream_as_they_happen_and_a_watch_resumes_where_it_stopped() {
    let f = fleet();
    // From the first event on: nothing is missed however late they connect.
    let watch = Watch::start(&f.co, &["--since", "0"]);
    let other_site = Watch::start(&f.co, &["--site", "plant-2", "--since", "0"]);
    ok(&f.co.edgectl(&["co", "add", "site", "plant-9"]));
    let site = watch.until("site added", is("site.added", "plant-9"));
    ok(&f
        .co
        .edgectl(&["co", "add", "device", "edge-99", "--site", "plant-9"]));
    let device = watch.until("device added", is("device.added", "edge-99"));
    assert!(device["id"].as_u64() > site["id"].as_u64());
    assert_eq!(device["site"], "plant-9");

    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &[]);
    let id = deploy_to(&f.co, "hello-wasm", "edge-1", &[]);
    let created = watch.until("deployment created", is("deployment.created", &id));
    assert_eq!(created["data"]["app"], "hello-wasm");
    assert_eq!(created["data"]["device"], "edge-1");
    let installed = watch.until("installed reported", |e| {
        is("status", &id)(e) && e["data"]["state"] == "installed"
    });
    assert_eq!(installed["site"], "plant-1");
    let theirs: Vec<Value> = other_site.events.try_iter().collect();
    assert!(
        theirs.iter().all(|e| e["site"] == "plant-2")
            && theirs.iter().any(|e| is("device.added", "edge-9")(e)),
        "a watch of plant-2 saw its own events only: {theirs:?}"
    );

    // Stopped, then started again after the last event it printed: it gets
    // what happened meanwhile, and nothing twice.
    let last = installed["id"].as_u64().unwrap();
    drop(watch);
    ok(&f.co.edgectl(&["co", "undeploy", &id]));
    let again = Watch::start(&f.co, &["--since", &last.to_string()]);
    let removed = again.until("deployment removed", is("deployment.removed", &id));
    assert!(removed["id"].as_u64().unwrap() > last);
    drop(en);
}

/// A client resuming after an id the CO never gave (it restarted since, and
/// its ids began again) is told it missed events, then gets what follows.
#[test]
fn resuming_past_the_newest_event_is_a_reset() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    let client = co.client(Some(&co.token));
    let mut stream = client.events(Some(999_999)).unwrap();
    let first = stream.next().unwrap().unwrap();
    assert_eq!(first.kind, "reset", "{first:?}");
    ok(&co.edgectl(&["co", "add", "site", "after-reset"]));
    let next = stream.next().unwrap().unwrap();
    assert_eq!(
        (next.kind.as_str(), next.subject.as_str()),
        ("site.added", "after-reset")
    );
    assert!(next.id < 999_999);
}

#[test]
fn label_changes_of_devices_and_sites_are_events() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&[
        "co", "add", "device", "edge-1", "--site", "plant-1", "--label", "zone=b", "--label",
        "rack=7",
    ]));
    // From the first event on: nothing is missed however late it connects.
    let watch = Watch::start(&co, &["--since", "0"]);
    ok(&co.edgectl(&[
        "co",
        "label",
        "device",
        "edge-1",
        "zone=a",
        "rack-",
        "tier=gold",
    ]));
    let e = watch.until("device labels changed", is("device.updated", "edge-1"));
    assert_eq!(e["site"], "plant-1");
    assert_eq!(
        e["data"]["labels"],
        serde_json::json!({"tier": "gold", "zone": "a"})
    );
    assert_eq!(
        e["data"]["changes"],
        serde_json::json!([
            "label rack removed",
            "label tier=gold added",
            "label zone b → a"
        ])
    );
    ok(&co.edgectl(&["co", "label", "site", "plant-1", "region=eu"]));
    let e = watch.until("site labels changed", is("site.updated", "plant-1"));
    assert_eq!(
        e["data"]["changes"],
        serde_json::json!(["label region=eu added"])
    );
    // The same labels again change nothing, and say nothing.
    ok(&co.edgectl(&["co", "label", "device", "edge-1", "zone=a"]));
    ok(&co.edgectl(&["co", "add", "site", "plant-3"]));
    let next = watch.until("the next event", |_| true);
    assert_eq!(next["subject"], "plant-3", "{next}");
}

#[test]
fn an_unknown_site_is_refused_naming_the_sites_there_are() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "site", "plant-2"]));
    let mut watch = co
        .edgectl_command(&["co", "watch", "--site", "nope"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ended = edge_tests::wait::within(Duration::from_secs(20), edge_tests::wait::EVERY, || {
        watch.try_wait().unwrap()
    });
    if ended.is_none() {
        let _ = watch.kill();
        let _ = watch.wait();
        panic!("a watch of an unknown site kept running");
    }
    fails(
        &watch.wait_with_output().unwrap(),
        "no site `nope`; the sites are plant-1, plant-2",
    );
    // The API says so too, before any stream starts.
    let r = co
        .http()
        .get(format!("{}/api/events?site=nope", co.url))
        .bearer_auth(&co.token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let problem: serde_json::Value = r.json().unwrap();
    assert_eq!(
        problem["detail"], "no site `nope`; the sites are plant-1, plant-2",
        "{problem}"
    );
}

#[test]
fn event_ids_keep_growing_across_restarts_and_resume_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("co");
    let co = Co::start(&data, &[]);
    let last = added(&co, "plant-1");
    assert!(co.stop().success());

    // A clean stop: ids go on, and a client that saw everything missed nothing.
    let co = Co::start(&data, &[]);
    let client = co.client(Some(&co.token));
    let mut stream = client.events(Some(last)).unwrap();
    ok(&co.edgectl(&["co", "add", "site", "plant-2"]));
    let next = stream.next().unwrap().unwrap();
    assert_eq!(
        (next.kind.as_str(), next.subject.as_str()),
        ("site.added", "plant-2"),
        "no reset: nothing was missed"
    );
    assert!(next.id > last, "{} after {last}", next.id);
    drop(stream);
    let seen = next.id;

    // Killed: ids still grow, and a client resuming from before the crash
    // is told it may have missed events.
    co.kill();
    let co = Co::start(&data, &[]);
    let client = co.client(Some(&co.token));
    let mut stream = client.events(Some(seen)).unwrap();
    ok(&co.edgectl(&["co", "add", "site", "plant-3"]));
    assert_eq!(stream.next().unwrap().unwrap().kind, "reset");
    let after = stream.next().unwrap().unwrap();
    assert_eq!(after.subject, "plant-3");
    assert!(after.id > seen, "{} after {seen}", after.id);
}

/// Add site `name`; the id of its event.
fn added(co: &Co, name: &str) -> u64 {
    let client = co.client(Some(&co.token));
    let mut stream = client.events(None).unwrap();
    ok(&co.edgectl(&["co", "add", "site", name]));
    let e = stream.next().unwrap().unwrap();
    assert_eq!(e.subject, name);
    e.id
}
