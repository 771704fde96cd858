//! Benchmarks of the budgets in DESIGN.md §9 that concern `edgectl` and the
//! CO (see BENCHMARKS.md): `edgectl --help`, and `edgectl co list apps` with
//! 10,000 apps in the store, end to end (process start, HTTP, JSON, table).
//!
//! Run with `cargo run --release -p edge-tests --bin bench`. It builds the
//! release binaries it measures, seeds a store by writing 10,000 packages into
//! a CO workspace (the CO indexes them at start), and prints percentiles.

// A benchmark's results are its output.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use edge_tests::co::{Co, repo_root};

const APPS: usize = 10_000;
const RUNS: usize = 50;

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

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let p = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {} runs",
        p(0.5),
        p(0.95),
        p(1.0),
        samples.len()
    )
}

fn time(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| panic!("run: {e}"));
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn seed(workspace: &Path) {
    let template =
        std::fs::read_to_string(repo_root().join("fixtures/packages/hello-wasm/margo.yaml"))
            .unwrap_or_default();
    let wat = std::fs::read(repo_root().join("fixtures/packages/hello-wasm/components/hello.wat"))
        .unwrap_or_default();
    let md =
        std::fs::read(repo_root().join("fixtures/packages/hello-wasm/resources/description.md"))
            .unwrap_or_default();
    let icon = std::fs::read(repo_root().join("fixtures/packages/hello-wasm/resources/icon.png"))
        .unwrap_or_default();
    for i in 0..APPS {
        let id = format!("bench-app-{i:05}");
        let dir = workspace.join("apps").join(&id).join("1.0.0");
        std::fs::create_dir_all(dir.join("resources")).unwrap_or_default();
        std::fs::create_dir_all(dir.join("components")).unwrap_or_default();
        let yaml = template
            .replacen("id: hello-wasm", &format!("id: {id}"), 1)
            .replacen("name: Hello Wasm", &format!("name: Bench App {i}"), 1);
        std::fs::write(dir.join("margo.yaml"), yaml).unwrap_or_default();
        std::fs::write(dir.join("components/hello.wat"), &wat).unwrap_or_default();
        std::fs::write(dir.join("resources/description.md"), &md).unwrap_or_default();
        std::fs::write(dir.join("resources/icon.png"), &icon).unwrap_or_default();
    }
}

fn main() {
    let edgectl = release_bin("edgectl");
    let _ = release_bin("edged");

    let help: Vec<Duration> = (0..RUNS)
        .map(|_| time(Command::new(&edgectl).arg("--help")))
        .collect();
    println!("edgectl --help: {}", percentiles(help));

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("co");
    let seeding = Instant::now();
    seed(&data.join("workspace"));
    println!(
        "seeded {APPS} packages in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let co = Co::start_with(&data, &[], &repo_root().join("target/release/edged"));
    println!(
        "CO start with {APPS} packages to index: {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let list = |fmt: &str| {
        let samples: Vec<Duration> = (0..RUNS)
            .map(|_| {
                time(
                    Command::new(&edgectl)
                        .args(["-o", fmt, "co", "list", "apps"])
                        .env("EDGE_SERVER", &co.url)
                        .env("EDGE_TOKEN", &co.token),
                )
            })
            .collect();
        percentiles(samples)
    };
    println!(
        "edgectl co list apps ({APPS} apps, table): {}",
        list("table")
    );
    println!(
        "edgectl co list apps ({APPS} apps, json):  {}",
        list("json")
    );
    let _ = co.stop();
}
