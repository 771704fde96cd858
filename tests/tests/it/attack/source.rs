//! Attacks through app sources: Git URLs that point at loopback or private
//! ranges, and packs larger than the bound.
//!
//! A token holder names the URL the CO fetches from. Without `--source-allow`
//! the CO refuses loopback, private and link-local hosts (and names resolving
//! to them) before connecting, with one sentence whether the host answers or
//! not; with it, the same URL is added. A pack over `--source-max-bytes` is
//! cut off while it streams: the scratch repository never holds more, and
//! nothing is stored.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use edge_api::ClientError;
use edge_api::types::{AddAppRequest, SourceKind};
use edge_tests::co::{Co, copy_tree, git, repo_root};
use edge_tests::git_http::GitHttpServer;

/// A folder of repositories: `hello.git` (a package), and `big.git` (the
/// same package with `extra` bytes of incompressible data).
fn repositories(dir: &Path, extra: usize) -> PathBuf {
    let repos = dir.join("repos");
    for (name, bytes) in [("hello.git", 0), ("big.git", extra)] {
        let repo = repos.join(name);
        copy_tree(&repo_root().join("fixtures/packages/hello-process"), &repo);
        if bytes > 0 {
            // xorshift: bytes gzip and Git's zlib cannot shrink.
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let noise: Vec<u8> = (0..bytes)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x.to_le_bytes()[0]
                })
                .collect();
            std::fs::write(repo.join("noise.bin"), noise).unwrap();
        }
        let _ = git(&repo, &["init", "-q", "-b", "main"]);
        let _ = git(&repo, &["add", "-A"]);
        let _ = git(&repo, &["commit", "-q", "-m", "package"]);
    }
    repos
}

fn add(client: &edge_api::Client, url: &str) -> Result<serde_json::Value, ClientError> {
    client.post(
        edge_api::routes::APPS,
        &AddAppRequest {
            source: SourceKind::Git,
            url: url.to_owned(),
            reference: None,
            name: None,
        },
    )
}

/// The refusal's sentence with the URL taken out.
fn refusal(client: &edge_api::Client, url: &str) -> String {
    let err = add(client, url).unwrap_err();
    let ClientError::Problem(p) = &err else {
        panic!("{url}: {err:?}");
    };
    assert_eq!(p.status, 422, "{url}: {err}");
    let text = err.to_string();
    assert!(text.contains("cannot be used as an app source"), "{text}");
    text.replace(url, "URL")
}

#[test]
fn loopback_and_private_sources_are_refused_alike_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let repos = repositories(dir.path(), 0);
    let server = GitHttpServer::start(&repos).unwrap();
    let answering = format!("{}/hello.git", server.url);
    let closed = {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        format!(
            "http://127.0.0.1:{}/hello.git",
            l.local_addr().unwrap().port()
        )
    };
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    // A documentation address stands for "some host allowed", so the kit's
    // loopback default is not added.
    let co = Co::start(&dir.path().join("co"), &["--source-allow", "192.0.2.1"]);
    let client = co.client(Some(&co.token));
    let sentence = refusal(&client, &answering);
    for url in [
        closed.clone(),
        format!("http://localhost:{port}/hello.git"),
        format!("http://[::1]:{port}/hello.git"),
        format!("http://[::ffff:127.0.0.1]:{port}/hello.git"),
        "http://10.1.2.3/hello.git".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "https://no-such-host.invalid/hello.git".to_owned(),
    ] {
        assert_eq!(refusal(&client, &url), sentence, "{url}");
    }
    assert!(
        server.requests().is_empty(),
        "the CO connected: {:?}",
        server.requests()
    );
    let apps: serde_json::Value = client.get(edge_api::routes::APPS).unwrap();
    assert_eq!(apps, serde_json::json!([]));
    drop(co);

    let co = Co::start(&dir.path().join("co2"), &["--source-allow", "127.0.0.1"]);
    let client = co.client(Some(&co.token));
    add(&client, &answering).unwrap();
    let apps: serde_json::Value = client.get(edge_api::routes::APPS).unwrap();
    assert_eq!(apps.as_array().map(Vec::len), Some(1), "{apps}");
}

/// The largest total of file sizes under `dir` seen while `done` is unset.
fn watch(dir: PathBuf, done: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    fn total(dir: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => total(&e.path()),
                _ => e.metadata().map(|m| m.len()).unwrap_or(0),
            })
            .sum()
    }
    let peak = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            peak.fetch_max(total(&dir), Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        peak.load(Ordering::SeqCst)
    })
}

#[test]
fn a_pack_over_the_bound_is_cut_off_while_it_streams_and_nothing_is_stored() {
    const BOUND: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let repos = repositories(dir.path(), 6 << 20);
    let server = GitHttpServer::start(&repos).unwrap();
    let co = Co::start(
        &dir.path().join("co"),
        &["--source-max-bytes", &BOUND.to_string()],
    );
    let client = co.client(Some(&co.token));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = watch(co.data.join("staging"), done.clone());
    let err = add(&client, &format!("{}/big.git", server.url)).unwrap_err();
    done.store(true, Ordering::SeqCst);
    let peak = watcher.join().unwrap();
    let text = err.to_string();
    assert!(
        text.contains(&format!("stopped at {BOUND} bytes")),
        "{text}"
    );
    // The scratch repository's own files (config, HEAD) come on top of the pack.
    assert!(
        peak <= BOUND + 64 * 1024,
        "the staging folder held {peak} bytes"
    );
    let apps: serde_json::Value = client.get(edge_api::routes::APPS).unwrap();
    assert_eq!(apps, serde_json::json!([]), "nothing stored");
    // Under the bound, the same server's small package is added.
    add(&client, &format!("{}/hello.git", server.url)).unwrap();
}
