//! Benchmarks of the budgets in DESIGN.md §9 (see BENCHMARKS.md), in groups:
//!
//! - `edgectl`: `edgectl --help`, and `edgectl co list apps` with 10,000 apps
//!   in the store, end to end (process start, HTTP, JSON, table);
//! - `lo`: a site repository with 1,000 deployments and 10,000 commits
//!   mirrored by a Local Orchestrator: bytes moved between the LO and the CO
//!   for one change, change latency (`co deploy` to the LO serving it), and
//!   the rate of `304 Not Modified` answers the LO gives edge nodes;
//! - `en`: static musl size, WebAssembly cold start, deploy → installed
//!   through an LO, and an edge node's idle RSS and CPU (see `en.rs`);
//! - `fleet`: simulated edge nodes against a real CO and real LOs (see
//!   `sim.rs`; not run unless named, and it takes options:
//!   `bench fleet --nodes N --los M --json FILE`);
//! - `intake`: the CO's status intake alone, sustained, over N deployments
//!   (see `intake.rs`; not run unless named:
//!   `bench intake --deployments N --sites K --secs S`);
//! - `outage`: an LO cut off from the CO for minutes by a failing link,
//!   nothing lost (see `outage.rs`; not run unless named:
//!   `bench outage --minutes N`, 10 by default).
//!
//! Run with `cargo run --release -p edge-tests --bin bench [GROUP...]`
//! (no group runs them all). It builds the release binaries it measures and
//! prints what it measured.

// A benchmark's results are its output.
#![allow(clippy::print_stdout)]

mod breakdown;
mod edgectl;
mod en;
mod fleet;
mod history;
mod intake;
mod lo;
mod outage;
mod probe;
mod sim;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use edge_tests::co::repo_root;

const GROUPS: [&str; 4] = ["edgectl", "lo", "en", "change"];

fn release_bin(name: &str) -> PathBuf {
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--quiet", "--release", "--bin", name])
        .current_dir(repo_root())
        .status()
        .unwrap_or_else(|e| panic!("cargo: {e}"));
    assert!(status.success(), "building {name} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    target.join("release").join(name)
}

/// The `--flag value` pairs of a group's `args` (a lone `--` skipped).
fn flag_pairs(args: &[String]) -> Vec<(&str, &str)> {
    let mut it = args.iter().filter(|a| *a != "--");
    let mut out = Vec::new();
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        out.push((flag.as_str(), value.as_str()));
    }
    out
}

/// `value` of `flag` parsed as a `T`.
fn parsed<T: std::str::FromStr>(flag: &str, value: &str) -> T
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .unwrap_or_else(|e| panic!("{flag} {value}: {e}"))
}

/// The sample at quantile `q` (nearest rank on the sorted samples).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {} runs",
        ms(quantile(&samples, 0.5)),
        ms(quantile(&samples, 0.95)),
        ms(quantile(&samples, 1.0)),
        samples.len()
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("fleet") => return sim::run(&args[1..]),
        Some("intake") => return intake::run(&args[1..]),
        Some("outage") => return outage::run(&args[1..]),
        _ => {}
    }
    if let Some(bad) = args.iter().find(|a| !GROUPS.contains(&a.as_str())) {
        panic!(
            "unknown group `{bad}`; usage: bench [{}]... (none runs all)",
            GROUPS.join("|")
        );
    }
    let wanted = |g: &str| args.is_empty() || args.iter().any(|a| a == g);
    // `change` is part of `en`; alone it runs only the change latency.
    if args.iter().any(|a| a == "change") && !wanted("en") {
        en::change();
    }
    if wanted("edgectl") {
        edgectl::run();
    }
    if wanted("lo") {
        lo::run();
    }
    if wanted("en") {
        en::run();
    }
}
