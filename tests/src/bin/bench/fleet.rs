//! The fleet the `lo` group measures: a CO with the hello-wasm app, a big
//! site (`plant-1`: devices edge-1 to edge-5, LO credentials, a history of
//! 10,000 commits holding 1,000 deployments, written with `git fast-import`
//! while the CO is stopped and indexed by the CO at its restart) and a small
//! one (`plant-2`: one device); and the helpers that drive it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use edge_api::types::{DeployRequest, DeploymentSummary};
use edge_tests::co::{Co, git, repo_root};
use edge_tests::lo::{Lo, Margo};

use super::history;

pub(crate) const SITE: &str = "plant-1";
/// Deployments in the big site.
pub(crate) const DEPLOYMENTS: usize = 1_000;
/// Commits in the big site's history.
pub(crate) const COMMITS: usize = 10_000;
/// The devices the big site's deployments go to.
pub(crate) const BIG: [&str; 4] = ["edge-1", "edge-2", "edge-3", "edge-4"];
/// A device of the big site with nothing deployed at first (latency probe).
pub(crate) const PROBE: &str = "edge-5";
/// The small site and its one device.
pub(crate) const SMALL: (&str, &str) = ("plant-2", "edge-9");

/// Run the release `edgectl` against `co`; its stdout.
pub(crate) fn ctl(edgectl: &Path, co: &Co, args: &[&str]) -> String {
    let out = Command::new(edgectl)
        .args(args)
        .current_dir(repo_root())
        .env("EDGE_SERVER", &co.url)
        .env("EDGE_TOKEN", &co.token)
        .env("EDGE_CA", co.ca_file())
        .env("XDG_CONFIG_HOME", co.config_home.path())
        .output()
        .unwrap_or_else(|e| panic!("edgectl: {e}"));
    assert!(
        out.status.success(),
        "edgectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn enroll(
    edgectl: &Path,
    co: &Co,
    dir: &Path,
    site: &str,
    device: Option<&str>,
) -> PathBuf {
    let out = dir.join(device.unwrap_or(site));
    let path = out.to_string_lossy().into_owned();
    let mut args = vec!["co", "enroll", "--site", site, "--out", &path];
    match device {
        Some(d) => args.extend(["--device", d]),
        None => args.push("--lo"),
    }
    ctl(edgectl, co, &args);
    out
}

/// The `server` line of a credentials folder.
pub(crate) fn server_of(creds: &Path) -> String {
    let text = std::fs::read_to_string(creds.join("edged.toml"))
        .unwrap_or_else(|e| panic!("{}: {e}", creds.display()));
    let line = text
        .lines()
        .find(|l| l.starts_with("server = "))
        .unwrap_or_else(|| panic!("no server in {}", creds.display()));
    line["server = ".len()..].trim_matches('"').to_owned()
}

/// Deploy hello-wasm to `device` of `site`; the deployment id.
pub(crate) fn deploy(api: &edge_api::Client, site: &str, device: &str) -> String {
    deploy_app(api, "hello-wasm", site, device)
}

/// Deploy `app` to `device` of `site`; the deployment id.
pub(crate) fn deploy_app(api: &edge_api::Client, app: &str, site: &str, device: &str) -> String {
    let req = DeployRequest {
        app: app.into(),
        version: None,
        site: site.into(),
        device: Some(device.into()),
        selector: BTreeMap::new(),
        set: BTreeMap::new(),
        deploy_type: None,
        name: None,
        rollout: None,
        dry_run: false,
        // Placed before (or without) a capabilities report.
        allow_unreported: true,
    };
    let out: Vec<DeploymentSummary> = api
        .post(edge_api::routes::DEPLOYMENTS, &req)
        .unwrap_or_else(|e| panic!("deploy: {e}"));
    out.first()
        .map(|d| d.id.clone())
        .unwrap_or_else(|| panic!("deploy made nothing"))
}

/// The fleet: the big site with its history, the small one, credentials.
pub(crate) struct Fleet {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) edged: PathBuf,
    pub(crate) co: Co,
    pub(crate) api: edge_api::Client,
    pub(crate) lo_creds: PathBuf,
    pub(crate) small_lo_creds: PathBuf,
    pub(crate) creds: BTreeMap<String, PathBuf>,
    pub(crate) south: SocketAddr,
    pub(crate) generated: Vec<history::Generated>,
}

pub(crate) fn fleet(edgectl: &Path, edged: &Path) -> Fleet {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let co_data = dir.path().join("co");
    let co = Co::start_with(&co_data, &[], edged);
    let pkg = repo_root().join("fixtures/packages/hello-wasm");
    ctl(
        edgectl,
        &co,
        &["co", "add", "app", "--artifact", &pkg.to_string_lossy()],
    );
    ctl(edgectl, &co, &["co", "add", "site", SITE]);
    ctl(edgectl, &co, &["co", "add", "site", SMALL.0]);
    for d in BIG.iter().chain([&PROBE]) {
        ctl(edgectl, &co, &["co", "add", "device", d, "--site", SITE]);
    }
    ctl(
        edgectl,
        &co,
        &["co", "add", "device", SMALL.1, "--site", SMALL.0],
    );
    let cdir = dir.path().join("creds");
    let lo_creds = enroll(edgectl, &co, &cdir, SITE, None);
    let small_lo_creds = enroll(edgectl, &co, &cdir, SMALL.0, None);
    let mut creds = BTreeMap::new();
    for d in BIG.iter().chain([&PROBE]) {
        creds.insert((*d).to_owned(), enroll(edgectl, &co, &cdir, SITE, Some(d)));
    }
    creds.insert(
        SMALL.1.to_owned(),
        enroll(edgectl, &co, &cdir, SMALL.0, Some(SMALL.1)),
    );
    // One real deploy: the template of the generated history.
    let out = ctl(
        edgectl,
        &co,
        &[
            "co",
            "deploy",
            "--app",
            "hello-wasm",
            "--site",
            SITE,
            "--device",
            "edge-1",
            "--allow-unreported",
            "-o",
            "json",
        ],
    );
    let made: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}"));
    let template_id = made[0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {out}"))
        .to_owned();
    let repo = co_data.join("sites").join(SITE);
    let template =
        std::fs::read_to_string(repo.join("deployments").join(format!("{template_id}.yaml")))
            .unwrap_or_else(|e| panic!("{e}"));
    let south_url = server_of(&lo_creds);
    let south: SocketAddr = south_url
        .trim_start_matches("https://")
        .parse()
        .unwrap_or_else(|e| panic!("{south_url}: {e}"));
    assert!(co.stop().success(), "the CO did not stop cleanly");

    let started = Instant::now();
    let adds = DEPLOYMENTS - 1;
    let generated = history::append(
        &repo,
        &template,
        &template_id,
        &BIG,
        adds,
        COMMITS - 1 - adds,
    );
    let commits: usize = git(&repo, &["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap_or(0);
    let files = git(&repo, &["ls-tree", "--name-only", "HEAD", "deployments/"])
        .lines()
        .count();
    assert_eq!((commits, files), (COMMITS, DEPLOYMENTS));
    println!(
        "site {SITE}: {commits} commits, {files} deployments written with git fast-import in {:.1} s; .git {}",
        started.elapsed().as_secs_f64(),
        kb(dir_size(&repo.join(".git")))
    );

    let started = Instant::now();
    let co = Co::start_with(&co_data, &["--south-listen", &south.to_string()], edged);
    println!(
        "CO restart (work tree reset, {DEPLOYMENTS} deployments indexed): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let api = co.client(Some(&co.token));
    let indexed: Vec<DeploymentSummary> = api
        .get(&format!("{}?site={SITE}", edge_api::routes::DEPLOYMENTS))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(indexed.len(), DEPLOYMENTS, "the CO indexed the history");
    Fleet {
        dir,
        edged: edged.to_path_buf(),
        co,
        api,
        lo_creds,
        small_lo_creds,
        creds,
        south,
        generated,
    }
}

impl Fleet {
    pub(crate) fn device(&self, d: &str, lo: &Lo) -> Margo {
        Margo::new(&self.creds[d], &lo.url, SITE)
    }
}

pub(crate) fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

pub(crate) fn kb(n: u64) -> String {
    format!("{:.1} KB", n as f64 / 1000.0)
}
