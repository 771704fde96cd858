//! The `edgectl` group: `edgectl --help`, and `edgectl co list apps` with
//! 10,000 apps in the store, end to end (process start, HTTP, JSON, table).
//! The store is seeded by writing 10,000 packages into a CO workspace (the
//! CO indexes them at start).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use edge_tests::co::{Co, repo_root};

use super::{percentiles, release_bin};

const APPS: usize = 10_000;
const RUNS: usize = 50;

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

pub(crate) fn run() {
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
