//! The `lo` group: a Local Orchestrator mirroring a site repository with
//! 1,000 deployments and 10,000 commits.
//!
//! 1. Delta: the LO talks to the CO through a counting TCP proxy; after the
//!    initial clone, one `co deploy` or `co undeploy` is made and every byte
//!    between them counted (TLS included) until the LO serves the change.
//! 2. Change latency: from the `co deploy` request (POST to the north API) to
//!    the LO serving a manifest that lists the new deployment, polled by an
//!    edge node every 2 ms; on the big site and on a site with one device.
//!    Then where that time goes: an own mirror repeats the LO's fetch and
//!    reads and parses the files, timed piece by piece.
//! 3. `304 Not Modified` throughput: 1, 4 and 16 threads, each with its own
//!    keep-alive mTLS client, asking for an unchanged manifest; and a
//!    manifest request on a new connection, handshake included.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use edge_model::MargoDocument as _;
use edge_tests::fleet::pointed_at;
use edge_tests::lo::{Lo, Margo};

use super::fleet::{
    BIG, COMMITS, DEPLOYMENTS, Fleet, PROBE, SITE, SMALL, deploy, dir_size, fleet, kb,
};
use super::{ms, percentiles, quantile, release_bin};
use edge_tests::proxy::{Bytes, Moved, Proxy};

/// Changes measured for the delta.
const CHANGES: usize = 3;
const RUNS: usize = 50;
/// Deploys timed piece by piece after the latency runs.
const BREAKDOWN_RUNS: usize = 10;
/// How often an edge node asks while waiting for a change.
const POLL: Duration = Duration::from_millis(2);
/// A little more than the LO's default poll interval (30 s).
const IDLE: Duration = Duration::from_secs(35);
const THROUGHPUT_FOR: Duration = Duration::from_secs(5);
const THREADS: [usize; 3] = [1, 4, 16];

/// The deployment ids of `m`'s manifest.
fn listed(m: &Margo) -> Vec<String> {
    let r = m.get("/api/v1/deployments", &[]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["deployments"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["deploymentId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `m`'s manifest names `id` (a byte search: cheap enough to poll).
fn names(m: &Margo, id: &str) -> bool {
    let r = m.get("/api/v1/deployments", &[]);
    r.status == 200 && r.body.windows(id.len()).any(|w| w == id.as_bytes())
}

/// Call `f` every `every` until it is true; panics after `limit`.
fn until(what: &str, every: Duration, limit: Duration, f: impl FnMut() -> bool) {
    edge_tests::wait::until_true(what, limit, every, f);
}

fn bytes(b: Bytes) -> String {
    format!(
        "{} ({} B: {} B up, {} B down)",
        kb(b.total()),
        b.total(),
        b.up,
        b.down
    )
}

fn describe(m: &Moved) -> String {
    let per = m
        .new
        .iter()
        .map(|b| format!("{}+{}", b.up, b.down))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "total {}; on {} connection(s) opened meanwhile (each git fetch opens one; up+down B: {per}) {}; \
         on the open watch connection {}",
        bytes(m.total()),
        m.new.len(),
        bytes(m.new_total()),
        bytes(m.existing)
    )
}

/// The pack files of a bare repository and their sizes.
fn packs(repo: &Path) -> BTreeMap<String, u64> {
    std::fs::read_dir(repo.join("objects/pack"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().map_or(0, |m| m.len()),
            )
        })
        .collect()
}

/// The client of big-site device `d` in `devices` (in the order of `BIG`).
fn pick<'a>(devices: &'a [Margo], d: &str) -> &'a Margo {
    &devices[BIG.iter().position(|b| *b == d).unwrap_or(0)]
}

/// Initial clone and the bytes of single changes, through the proxy.
fn delta(f: &Fleet) {
    let proxy = Proxy::start(f.south);
    let creds = pointed_at(
        &f.lo_creds,
        &f.dir.path().join("creds/lo-proxied"),
        &format!("https://{}", proxy.addr),
    );
    let lo_data = f.dir.path().join("lo");
    let started = Instant::now();
    let lo = Lo::start_with(&creds, &lo_data, &[], &f.edged);
    let ready = started.elapsed();
    let devices: Vec<Margo> = BIG.iter().map(|d| f.device(d, &lo)).collect();
    until(
        "the LO to serve the site",
        Duration::from_millis(20),
        Duration::from_secs(600),
        || devices.iter().map(|m| listed(m).len()).sum::<usize>() == DEPLOYMENTS,
    );
    let cloned = started.elapsed();
    let at_serve = proxy.total();
    proxy.settle(Duration::from_secs(1), Duration::from_secs(30));
    let mirror = lo_data.join("site.git");
    println!(
        "initial sync: LO ready in {:.0} ms, serving all {DEPLOYMENTS} deployments after {:.2} s; \
         {} moved by then ({} connections), mirror on disk {}",
        ms(ready),
        cloned.as_secs_f64(),
        bytes(at_serve.total()),
        at_serve.new.len(),
        kb(dir_size(&mirror))
    );
    let per = proxy
        .total()
        .new
        .iter()
        .map(|b| format!("{}+{}", b.up, b.down))
        .collect::<Vec<_>>()
        .join(", ");
    println!("  per connection once settled (up+down B, in order of opening): {per}");

    let mut worst = 0;
    for i in 0..CHANGES * 2 {
        let before = packs(&mirror);
        proxy.settle(Duration::from_secs(1), Duration::from_secs(30));
        let snap = proxy.snapshot();
        let started = Instant::now();
        let what = if i % 2 == 0 {
            let id = deploy(&f.api, SITE, "edge-1");
            let m = pick(&devices, "edge-1");
            until(
                "the deploy at the LO",
                POLL,
                Duration::from_secs(60),
                || names(m, &id),
            );
            "deploy (adds one)  "
        } else {
            let victim = &f.generated[i];
            f.api
                .delete(&format!("{}/{}", edge_api::routes::DEPLOYMENTS, victim.id))
                .unwrap_or_else(|e| panic!("undeploy: {e}"));
            let m = pick(&devices, &victim.device);
            until(
                "the undeploy at the LO",
                POLL,
                Duration::from_secs(60),
                || !names(m, &victim.id),
            );
            "undeploy (drops one)"
        };
        let seen = started.elapsed();
        proxy.settle(Duration::from_secs(1), Duration::from_secs(30));
        let moved = proxy.since(&snap);
        worst = worst.max(moved.total().total());
        let new_packs: Vec<u64> = packs(&mirror)
            .into_iter()
            .filter(|(n, _)| !before.contains_key(n))
            .map(|(_, s)| s)
            .collect();
        println!(
            "change {}: {what} served after {:.0} ms; {}; pack(s) written {new_packs:?} B",
            i + 1,
            ms(seen),
            describe(&moved)
        );
    }
    println!(
        "delta: at most {} per change over {} changes (budget 10 KB)",
        kb(worst),
        CHANGES * 2
    );
    // Nothing changes: what the default 30 s poll and the 25 s watch cost.
    let snap = proxy.snapshot();
    std::thread::sleep(IDLE);
    println!(
        "idle for {} s (one poll of an unchanged repository, one watch renewal): {}",
        IDLE.as_secs(),
        describe(&proxy.since(&snap))
    );
    lo.kill();
}

/// `RUNS` deploys to `device` of `site`, each timed from the request to the
/// LO serving it; prints percentiles of that and of the request alone.
fn latency(f: &Fleet, lo: &Lo, site: &str, device: &str, label: &str) {
    let m = Margo::new(&f.creds[device], &lo.url, site);
    until(
        "the LO to answer",
        Duration::from_millis(20),
        Duration::from_secs(60),
        || m.get("/api/v1/deployments", &[]).status == 200,
    );
    let mut total = Vec::new();
    let mut request = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let id = deploy(&f.api, site, device);
        request.push(started.elapsed());
        until(
            "the deploy at the LO",
            POLL,
            Duration::from_secs(60),
            || names(&m, &id),
        );
        total.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("change latency, {label}: {}", percentiles(total));
    println!(
        "  of which the deploy request (CO commit): {}",
        percentiles(request)
    );
}

/// The `took=` of each "fetched a new desired state" line of an LO log
/// (fetch plus rebuild of the views), in order.
fn lo_took(log: &str) -> Vec<Duration> {
    log.lines()
        .filter(|l| l.contains("fetched a new desired state"))
        .filter_map(|l| {
            let v = l.split("took=").nth(1)?.split_whitespace().next()?;
            let unit = v.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
            let n: f64 = v[..v.len() - unit.len()].parse().ok()?;
            let secs = match unit {
                "s" => n,
                "ms" => n / 1e3,
                "µs" | "us" => n / 1e6,
                "ns" => n / 1e9,
                _ => return None,
            };
            Some(Duration::from_secs_f64(secs))
        })
        .collect()
}

/// Where the time of a change goes: `runs` deploys to `device`; after the LO
/// serves each, an own mirror of the site (same gix code, the LO's
/// credentials, straight to the CO) fetches the same change and reads and
/// parses the deployment files, while the LO idles. The LO's own
/// fetch-plus-rebuild time comes from its log.
fn breakdown(f: &Fleet, lo: &Lo, creds: &Path, site: &str, device: &str, runs: usize) {
    let identity = edge_api::mtls::Identity::load(creds).unwrap_or_else(|e| panic!("{e}"));
    let tls = identity
        .client_config(&identity.wfm_id("co"))
        .unwrap_or_else(|e| panic!("{e}"));
    let configure: Arc<edge_workspace::git::ConfigureClient> =
        Arc::new(move |b: reqwest::blocking::ClientBuilder| b.use_preconfigured_tls(tls.clone()));
    let url = format!("{}/git/{site}.git", identity.file.server);
    let mirror = edge_workspace::git::Mirror::open_or_init(
        &f.dir.path().join(format!("breakdown-{site}.git")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    mirror
        .fetch(&url, configure.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    let m = Margo::new(&f.creds[device], &lo.url, site);
    let seen_before = lo_took(&lo.log()).len();
    let (mut fetch, mut read, mut parse) = (Vec::new(), Vec::new(), Vec::new());
    let mut count = 0;
    for _ in 0..runs {
        let id = deploy(&f.api, site, device);
        until(
            "the deploy at the LO",
            POLL,
            Duration::from_secs(60),
            || names(&m, &id),
        );
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        let got = mirror
            .fetch(&url, configure.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        fetch.push(t.elapsed());
        let head = got.head.unwrap_or_else(|| panic!("no head"));
        let t = Instant::now();
        let files = mirror
            .files_at(&head, "deployments", ".yaml", 100_000, 1 << 20)
            .unwrap_or_else(|e| panic!("{e}"));
        read.push(t.elapsed());
        let t = Instant::now();
        for (name, bytes) in &files {
            edge_model::ApplicationDeployment::from_slice(bytes)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        parse.push(t.elapsed());
        count = files.len();
    }
    let took: Vec<Duration> = lo_took(&lo.log()).into_iter().skip(seen_before).collect();
    let p50 = |mut v: Vec<Duration>| {
        v.sort();
        format!("{:.1} ms", ms(quantile(&v, 0.5)))
    };
    println!(
        "  where it goes ({runs} more deploys, p50): the LO's fetch + rebuild {} (from its log); \
         alone: a gix fetch of the change {}, reading the {} deployment files from the mirror {}, \
         parsing them {}",
        p50(took),
        p50(fetch),
        count,
        p50(read),
        p50(parse)
    );
}

/// `RUNS` manifest requests, each on a new connection (TCP, TLS handshake
/// with client certificate, one GET), as an edge node makes after a restart.
fn fresh_connections(creds: &Path, url: &str) {
    let samples: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let m = Margo::new(creds, url, SITE);
            let t = Instant::now();
            let r = m.get("/api/v1/deployments", &[]);
            let took = t.elapsed();
            assert_eq!(r.status, 200);
            took
        })
        .collect();
    println!(
        "manifest GET on a new connection (connect, mTLS handshake, request): {}",
        percentiles(samples)
    );
}

/// `threads` clients asking for an unchanged manifest for `THROUGHPUT_FOR`.
fn not_modified(creds: &Path, url: &str, threads: usize) {
    let etag = Margo::new(creds, url, SITE)
        .get("/api/v1/deployments", &[])
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag"))
        .to_owned();
    let go = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (creds, url, etag, go) =
                (creds.to_owned(), url.to_owned(), etag.clone(), go.clone());
            std::thread::spawn(move || {
                let m = Margo::new(&creds, &url, SITE);
                let ask = || {
                    let r = m.get("/api/v1/deployments", &[("if-none-match", &etag)]);
                    assert_eq!((r.status, r.body.len()), (304, 0));
                };
                ask();
                go.wait();
                let end = Instant::now() + THROUGHPUT_FOR;
                let mut samples = Vec::with_capacity(100_000);
                while Instant::now() < end {
                    let t = Instant::now();
                    ask();
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    go.wait();
    let started = Instant::now();
    let mut all: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap_or_else(|_| panic!("a client failed")))
        .collect();
    let wall = started.elapsed();
    all.sort();
    println!(
        "304 throughput, {threads:>2} client thread(s): {:.0} requests/s; latency p50 {:.2} ms, p99 {:.2} ms ({} requests in {:.1} s)",
        all.len() as f64 / wall.as_secs_f64(),
        ms(quantile(&all, 0.5)),
        ms(quantile(&all, 0.99)),
        all.len(),
        wall.as_secs_f64()
    );
}

pub(crate) fn run() {
    let edgectl = release_bin("edgectl");
    let edged = release_bin("edged");
    let f = fleet(&edgectl, &edged);

    delta(&f);

    // A normal LO (no proxy, default 30 s poll: only the nudge path counts).
    let lo = Lo::start_with(&f.lo_creds, &f.dir.path().join("lo"), &[], &edged);
    latency(
        &f,
        &lo,
        SITE,
        PROBE,
        &format!("site with {DEPLOYMENTS} deployments, {COMMITS} commits"),
    );
    breakdown(&f, &lo, &f.lo_creds, SITE, PROBE, BREAKDOWN_RUNS);
    for n in THREADS {
        not_modified(&f.creds["edge-1"], &lo.url, n);
    }
    fresh_connections(&f.creds[PROBE], &lo.url);
    lo.kill();

    let small = Lo::start_with(
        &f.small_lo_creds,
        &f.dir.path().join("lo-small"),
        &[],
        &edged,
    );
    latency(
        &f,
        &small,
        SMALL.0,
        SMALL.1,
        "site with one device, empty at start",
    );
    breakdown(
        &f,
        &small,
        &f.small_lo_creds,
        SMALL.0,
        SMALL.1,
        BREAKDOWN_RUNS,
    );
    small.kill();
    let _ = f.co.stop();
}
