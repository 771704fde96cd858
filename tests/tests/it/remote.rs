//! `edgectl co logs` and `edgectl co restart` with every part real: a CO,
//! the site's LO and an edge node behind it running a process workload
//! that writes lines when the test tells it to. The node is never dialled:
//! it polls its LO, which polls the CO. Logs with `--tail`, `--since` and
//! `--follow`, a restart (the process changes), the node and then the LO
//! going away (a quick error naming the hop), and the attacks: a read token cannot
//! restart, an unknown deployment or component is refused, a device cannot
//! take or answer another device's operations (a real one's id too) nor act
//! as an LO, a device of another site cannot use this LO, and an oversized
//! answer is refused.

use std::io::BufRead as _;
use std::process::{Output, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use edge_tests::co::{Co, ok};
use edge_tests::en::En;
use edge_tests::fleet::{deploy_to, fleet, row};
use edge_tests::lo::{Lo, Margo};
use edge_tests::wait::until_or;

use crate::logs::{logger_package, rfc3339, unix_now};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `edgectl co logs ID ARGS` through the CO.
fn co_logs(co: &Co, id: &str, args: &[&str]) -> Output {
    let mut all = vec!["co", "logs", id];
    all.extend(args);
    co.edgectl(&all)
}

#[test]
fn logs_and_restart_reach_a_node_behind_its_lo() {
    let f = fleet();
    let co = &f.co;
    co.add_app(logger_package(f.dir.path()).to_str().unwrap());
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &[]);
    let log = || {
        format!(
            "--- CO\n{}\n--- LO\n{}\n--- EN\n{}",
            co.log(),
            lo.log(),
            en.log()
        )
    };
    let id = deploy_to(co, "logger", "edge-1", &[]);
    until_or(
        "the logger installed on the node",
        || row(&en, &id).filter(|r| r["state"] == "installed"),
        log,
    );
    let logs = |args: &[&str]| ok(&co_logs(co, &id, args));
    until_or(
        "the early lines, through the LO",
        || {
            let o = co_logs(co, &id, &[]);
            (o.status.success() && String::from_utf8_lossy(&o.stdout).contains("early 30\n"))
                .then_some(())
        },
        log,
    );
    let work = en.data.join("workloads").join(&id).join("hello/work");

    // --tail and --since, exactly as on the node itself.
    assert_eq!(logs(&["--tail", "3"]), "early 28\nearly 29\nearly 30\n");
    let all = logs(&["--since", "1h"]);
    assert!(
        all.starts_with("early 1\n") && all.ends_with("early 30\n"),
        "{all}"
    );
    let since = until_or(
        "a time the early lines come before",
        || {
            let t = rfc3339(unix_now());
            logs(&["--since", &t]).is_empty().then_some(t)
        },
        log,
    );
    std::fs::write(work.join("go"), "").unwrap();
    until_or(
        "the late lines since then",
        || (logs(&["--since", &since]) == "late 1\nlate 2\n").then_some(()),
        log,
    );

    // --follow: a line written after the follow started arrives.
    let mut child = co
        .edgectl_command(&["co", "logs", &id, "--follow", "--tail", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = channel();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| {
        lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no line from --follow: {what}\n{}", log()))
    };
    assert_eq!(next("the last line"), "late 2");
    std::fs::write(work.join("more"), "").unwrap();
    assert_eq!(next("the line written next"), "more 1");
    let _ = child.kill();
    let _ = child.wait();

    // Unknown deployment, unknown component: exit 4, nothing asked of the node.
    let o = co_logs(co, "0000dead", &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no deployment `0000dead`"),
        "{}",
        stderr(&o)
    );
    let o = co_logs(co, &id, &["--component", "nope"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("has no component `nope`"),
        "{}",
        stderr(&o)
    );

    // A read token reads logs but cannot restart.
    let read = ok(&co.edgectl(&["co", "token", "create", "watcher", "--scope", "read"]))
        .trim()
        .to_owned();
    let as_read = |args: &[&str]| {
        co.edgectl_command(args)
            .env("EDGE_TOKEN", &read)
            .output()
            .unwrap()
    };
    let o = as_read(&["co", "logs", &id, "--tail", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = row(&en, &id).unwrap()["pid"].as_u64().unwrap();
    let o = as_read(&["co", "restart", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("needs `deploy`"), "{}", stderr(&o));
    assert_eq!(row(&en, &id).unwrap()["pid"].as_u64(), Some(before));

    // A restart: another process runs the workload afterwards.
    let out = ok(&co.edgectl(&["co", "restart", &id, "-o", "json"]));
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["deployment"], id.as_str(), "{out}");
    assert_ne!(rows[0]["pid"].as_u64(), Some(before), "{out}");
    until_or(
        "another process running the workload",
        || {
            let pid = row(&en, &id)?["pid"].as_u64()?;
            (pid != before).then_some(())
        },
        log,
    );
    let audit = ok(&co.edgectl(&["co", "audit", "-o", "json"]));
    assert!(
        audit.contains(&format!("/api/deployments/{id}/restart")),
        "{audit}"
    );

    // A deployment on a device that does not poll (edge-2 runs no node, and
    // has not polled yet):
    // refused at once, naming the device.
    let idle = deploy_to(co, "logger", "edge-2", &[]);
    until_or(
        "the LO serving edge-2's deployment",
        || {
            let o = co_logs(co, &idle, &[]);
            stderr(&o).contains("device `edge-2`").then_some(o)
        },
        log,
    );
    let started = Instant::now();
    let o = co_logs(co, &idle, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not connected to its LO"),
        "{}",
        stderr(&o)
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Scoping at the LO: edge-2 gets none of edge-1's operations and cannot
    // answer one; it is not an LO to the CO; edge-9 of plant-2 is refused.
    let d2 = Margo::new(&f.d2, &lo.url, "plant-1");
    let r = d2.get("/x-edgectl/v1/ops?wait=1", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!([]));
    let fake = serde_json::json!({"failure": {"code": "failed", "message": "x"}});
    let r = d2.json(
        "POST",
        "/x-edgectl/v1/ops/0123456789abcdef0123456789abcdef",
        &fake,
    );
    assert_eq!(r.status, 404, "{}", r.problem());
    let d9 = Margo::new(&f.d9, &lo.url, "plant-1");
    assert_eq!(d9.get("/x-edgectl/v1/ops?wait=0", &[]).status, 403);
    let co_south = edge_tests::fleet::south_url(&f.lo_creds);
    let as_device = Margo::new(&f.d1, &co_south, "co");
    assert_eq!(as_device.get("/lo/v1/ops?wait=0", &[]).status, 403);
    assert_eq!(
        as_device
            .json("POST", "/lo/v1/ops/0123456789abcdef0123456789abcdef", &fake)
            .status,
        403
    );
    let as_lo = Margo::new(&f.lo_creds, &co_south, "co");
    let r = as_lo.json("POST", "/lo/v1/ops/0123456789abcdef0123456789abcdef", &fake);
    assert_eq!(r.status, 404, "{}", r.problem());

    // The node goes away: a clear error naming the device, within the bound.
    let data = en.data.clone();
    en.kill();
    edge_tests::en::end_leftovers(&data);
    let started = Instant::now();
    let o = co_logs(co, &id, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("edge-1"), "{}", stderr(&o));
    eprintln!("the node's absence told after {:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // With the node gone, its operation waits at the LO for edge-1: edge-2
    // cannot take it nor answer it by its real id; what edge-1's identity
    // answers is what `co logs` prints.
    let asking = {
        let mut cmd = co.edgectl_command(&["co", "logs", &id]);
        std::thread::spawn(move || cmd.output().unwrap())
    };
    let as_d1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let ops = until_or(
        "edge-1's operation at the LO",
        || {
            let r = as_d1.get("/x-edgectl/v1/ops?wait=5", &[]);
            assert_eq!(r.status, 200);
            let v = r.json();
            (!v.as_array()?.is_empty()).then_some(v)
        },
        String::new,
    );
    assert_eq!(ops[0]["deployment"], id.as_str(), "{ops}");
    assert_eq!(ops[0]["kind"], "logs", "{ops}");
    let op = ops[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/x-edgectl/v1/ops/{op}");
    assert_eq!(
        d2.get("/x-edgectl/v1/ops?wait=0", &[]).json(),
        serde_json::json!([])
    );
    let r = d2.json("POST", &path, &fake);
    assert_eq!(r.status, 404, "{}", r.problem());
    let bad = serde_json::json!({"log": {"offset": 0, "next": 70000, "end": 0, "text": ""}});
    assert_eq!(as_d1.json("POST", &path, &bad).status, 400);
    let forged = serde_json::json!({"log": {"offset": 0, "next": 7, "end": 7, "text": "forged\n"}});
    let r = as_d1.json("POST", &path, &forged);
    assert_eq!(r.status, 204, "{}", r.problem());
    let o = asking.join().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "forged\n",
        "{}",
        stderr(&o)
    );

    // The LO goes away too: the error names the LO's hop, as quickly.
    lo.kill();
    let started = Instant::now();
    let o = co_logs(co, &id, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("LO of site `plant-1`"),
        "{}",
        stderr(&o)
    );
    eprintln!("the LO's absence told after {:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
