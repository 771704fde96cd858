//! Fetching packages over smart HTTP with `edge_workspace::git::fetch_package`
//! against `git http-backend` (through the kit's `GitHttpServer`), and the kit
//! itself checked with the real `git` CLI: clone works over protocol v0 and v2,
//! chunked and gzip request bodies work, pushes are refused.
//!
//! Source repositories are built with the `git` CLI in temporary folders from
//! `fixtures/packages/hello-wasm`. Everything talks to `127.0.0.1` only.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use edge_tests::git_http::GitHttpServer;
use edge_workspace::git::{CONNECT_TIMEOUT, GitError, SourcePolicy, fetch_package};

/// The servers here listen on loopback, which app sources may only name when allowed.
fn loopback() -> SourcePolicy {
    SourcePolicy::new(&["127.0.0.0/8".into(), "::1".into()], &[], 1 << 30).unwrap()
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/packages/hello-wasm")
}

/// The real `git` CLI, hermetic from the developer's configuration.
fn git_command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"]);
    command
}

fn git_output(dir: &Path, args: &[&str]) -> Output {
    git_command(dir).args(args).output().unwrap()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir` (relative path → bytes); directories only count
/// through their files.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rela = path.strip_prefix(root).unwrap().to_owned();
                out.insert(rela, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A served folder with the `hello` work-tree repository holding the fixture
/// package in one commit on `main`.
struct Source {
    tmp: tempfile::TempDir,
    server: GitHttpServer,
}

impl Source {
    fn new() -> Source {
        let tmp = tempfile::tempdir().unwrap();
        let served = tmp.path().join("served");
        let repo = served.join("hello");
        fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        copy_dir(&fixture(), &repo);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "hello-wasm"]);
        let server = GitHttpServer::start(&served).unwrap();
        Source { tmp, server }
    }

    fn repo(&self) -> PathBuf {
        self.server.root.join("hello")
    }

    fn url(&self) -> String {
        format!("{}/hello", self.server.url)
    }

    /// A fresh path for a destination (not created).
    fn dest(&self, name: &str) -> PathBuf {
        self.tmp.path().join("out").join(name)
    }
}

fn assert_no_leftovers(parent: &Path) {
    let names: Vec<String> = fs::read_dir(parent)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|name| !name.starts_with(".edge-fetch-")),
        "scratch clone left behind in {parent:?}: {names:?}"
    );
}

#[test]
fn fetch_checks_out_exactly_the_package_files_without_git_metadata() {
    let source = Source::new();
    let dest = source.dest("hello");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();

    fetch_package(&source.url(), None, &dest, &loopback()).unwrap();

    assert_eq!(files(&dest), files(&fixture()));
    assert!(!dest.join(".git").exists());
    assert_no_leftovers(dest.parent().unwrap());

    // An existing empty directory is a fine destination too.
    let empty = source.dest("empty");
    fs::create_dir_all(&empty).unwrap();
    fetch_package(&source.url(), None, &empty, &loopback()).unwrap();
    assert_eq!(files(&empty), files(&fixture()));
}

#[test]
fn fetch_follows_tags_branches_and_new_commits() {
    let source = Source::new();
    let repo = source.repo();
    fs::create_dir_all(source.dest("x").parent().unwrap()).unwrap();
    git(&repo, &["tag", "-a", "v1", "-m", "first release"]);
    git(&repo, &["tag", "light-v1"]);
    git(&repo, &["branch", "stable"]);
    let v1 = files(&repo);

    fs::write(repo.join("margo.yaml"), "changed: true\n").unwrap();
    fs::write(repo.join("resources/new.txt"), "new file\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "second"]);
    let mut v2 = files(&repo);
    v2.retain(|path, _| !path.starts_with(".git"));
    let mut v1_files = v1;
    v1_files.retain(|path, _| !path.starts_with(".git"));
    assert_eq!(v1_files, files(&fixture()));

    let head = source.dest("head");
    fetch_package(&source.url(), None, &head, &loopback()).unwrap();
    assert_eq!(files(&head), v2);

    let main = source.dest("main");
    fetch_package(&source.url(), Some("main"), &main, &loopback()).unwrap();
    assert_eq!(files(&main), v2);

    for reference in ["v1", "light-v1", "stable", "refs/tags/v1"] {
        let dest = source.dest(&reference.replace('/', "-"));
        fetch_package(&source.url(), Some(reference), &dest, &loopback()).unwrap();
        assert_eq!(files(&dest), v1_files, "reference {reference}");
        assert!(!dest.join(".git").exists());
    }
    assert_no_leftovers(head.parent().unwrap());
}

#[test]
fn an_unknown_reference_is_named_and_leaves_nothing_behind() {
    let source = Source::new();
    let dest = source.dest("nope");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let err = fetch_package(&source.url(), Some("no-such-tag"), &dest, &loopback()).unwrap_err();
    assert!(matches!(err, GitError::ReferenceNotFound { .. }), "{err}");
    assert!(err.to_string().contains("`no-such-tag`"), "{err}");
    assert!(!dest.exists());
    assert_no_leftovers(dest.parent().unwrap());
}

#[test]
fn an_unknown_repository_is_not_found() {
    let source = Source::new();
    let url = format!("{}/missing", source.server.url);
    let dest = source.dest("missing");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let err = fetch_package(&url, None, &dest, &loopback()).unwrap_err();
    assert!(matches!(err, GitError::NotFound { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("no git repository was found at `{url}`; check the URL")
    );
    assert!(!dest.exists());
    assert_no_leftovers(dest.parent().unwrap());
}

#[test]
fn an_empty_repository_is_reported() {
    let source = Source::new();
    git(&source.server.root, &["init", "-q", "-b", "main", "empty"]);
    let url = format!("{}/empty", source.server.url);
    let dest = source.dest("empty");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let err = fetch_package(&url, None, &dest, &loopback()).unwrap_err();
    assert!(
        matches!(err, GitError::EmptyRepository { .. }),
        "{err:?}: {err}"
    );
    assert!(!dest.exists());
    assert_no_leftovers(dest.parent().unwrap());
}

#[test]
fn a_closed_port_fails_fast_naming_the_url() {
    let tmp = tempfile::tempdir().unwrap();
    let port = {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hello");
    let dest = tmp.path().join("dest");
    let started = Instant::now();
    let err = fetch_package(&url, None, &dest, &loopback()).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, GitError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach `{url}`")),
        "{err}"
    );
    assert!(
        took < CONNECT_TIMEOUT + Duration::from_secs(5),
        "took {took:?}"
    );
    assert!(!dest.exists());
    assert_no_leftovers(tmp.path());
}

#[test]
fn a_server_that_never_answers_the_connection_times_out() {
    // A listener that never accepts: once its accept queue is full, Linux
    // drops further SYNs, so a connection attempt hangs like one to a host
    // that is down.
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    let full = loop {
        assert!(held.len() < 10_000, "the accept queue never filled up");
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(stream) => held.push(stream),
            Err(err) if err.kind() == std::io::ErrorKind::TimedOut => break held.len(),
            Err(err) => panic!("unexpected connect error: {err}"),
        }
    };
    assert!(full > 0);
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/hello");
    let started = Instant::now();
    let err = fetch_package(&url, None, &tmp.path().join("dest"), &loopback()).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, GitError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach `{url}`")),
        "{err}"
    );
    assert!(
        took >= CONNECT_TIMEOUT && took < CONNECT_TIMEOUT + Duration::from_secs(5),
        "took {took:?}"
    );
    drop(held);
}

#[test]
fn non_http_urls_are_unsupported() {
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch_package("ftp://x", None, &tmp.path().join("dest"), &loopback()).unwrap_err();
    assert!(matches!(err, GitError::UnsupportedUrl { .. }), "{err}");
    assert!(err.to_string().contains("`ftp://x`"), "{err}");
}

/// Add a commit to `repo` (on `main`) whose tree is `entries` of the same
/// blob of `blob_size` zero bytes, built with plumbing so no work tree is
/// needed.
fn commit_many_copies(repo: &Path, blob_size: usize, entries: usize) {
    let mut hash = git_command(repo)
        .args(["hash-object", "-w", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    hash.stdin
        .take()
        .unwrap()
        .write_all(&vec![0u8; blob_size])
        .unwrap();
    let out = hash.wait_with_output().unwrap();
    assert!(out.status.success());
    let blob = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let mut listing = String::new();
    for n in 0..entries {
        listing.push_str(&format!("100644 blob {blob}\tf{n:06}\n"));
    }
    let mut mktree = git_command(repo)
        .arg("mktree")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    mktree
        .stdin
        .take()
        .unwrap()
        .write_all(listing.as_bytes())
        .unwrap();
    let out = mktree.wait_with_output().unwrap();
    assert!(out.status.success());
    let tree = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let commit = git(repo, &["commit-tree", &tree, "-p", "HEAD", "-m", "big"]);
    git(repo, &["update-ref", "refs/heads/main", commit.trim()]);
}

#[test]
fn checkouts_over_the_limits_are_refused_before_writing() {
    let source = Source::new();
    let repo = source.repo();
    fs::create_dir_all(source.dest("x").parent().unwrap()).unwrap();

    // 1025 files of 256 KiB: 256.25 MiB, one blob on the wire.
    commit_many_copies(&repo, 256 * 1024, 1025);
    let dest = source.dest("bytes");
    let err = fetch_package(&source.url(), None, &dest, &loopback()).unwrap_err();
    assert!(matches!(err, GitError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("bytes"), "{err}");
    assert!(!dest.exists());

    // 100001 empty files.
    commit_many_copies(&repo, 0, 100_001);
    let dest = source.dest("files");
    let err = fetch_package(&source.url(), None, &dest, &loopback()).unwrap_err();
    assert!(matches!(err, GitError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("100001 files"), "{err}");
    assert!(!dest.exists());
    assert_no_leftovers(dest.parent().unwrap());
}

#[test]
fn the_git_cli_clones_through_the_server_with_protocol_v0_and_v2() {
    let source = Source::new();
    for version in ["0", "2"] {
        let dest = source.tmp.path().join(format!("clone-v{version}"));
        let out = git_output(
            source.tmp.path(),
            &[
                "-c",
                &format!("protocol.version={version}"),
                "clone",
                "-q",
                &source.url(),
                dest.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "clone v{version}: {}\nbackend: {:?}",
            String::from_utf8_lossy(&out.stderr),
            source.server.backend_stderr()
        );
        let mut cloned = files(&dest);
        cloned.retain(|path, _| !path.starts_with(".git"));
        assert_eq!(cloned, files(&fixture()));
        assert_eq!(
            git(&dest, &["rev-parse", "HEAD"]),
            git(&source.repo(), &["rev-parse", "HEAD"])
        );
    }
    let requests = source.server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.git_protocol.as_deref() == Some("version=2")),
        "{requests:#?}"
    );
    assert!(requests.iter().all(|r| r.status == 200), "{requests:#?}");
}

/// Add commits `from..=to` on `main`, each with its own lightweight tag `t<n>`.
fn add_tagged_commits(repo: &Path, from: usize, to: usize) {
    let mut stream = String::new();
    for n in from..=to {
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{n}\ncommitter t <t@t> {n} +0000\ndata 2\nc\n"
        ));
        if n == from {
            stream.push_str("from refs/heads/main^0\n");
        }
        stream.push_str(&format!("reset refs/tags/t{n}\nfrom :{n}\n\n"));
    }
    let mut import = git_command(repo)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    import
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(import.wait().unwrap().success());
}

fn cli_clone(source: &Source, name: &str, version: &str, post_buffer: usize) -> PathBuf {
    let dest = source.tmp.path().join(name);
    let out = git_output(
        source.tmp.path(),
        &[
            "-c",
            &format!("protocol.version={version}"),
            "-c",
            &format!("http.postBuffer={post_buffer}"),
            "clone",
            "-q",
            "--bare",
            &source.url(),
            dest.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}\nbackend: {:?}",
        String::from_utf8_lossy(&out.stderr),
        source.server.backend_stderr()
    );
    dest
}

#[test]
fn big_negotiations_arrive_gzipped_or_chunked() {
    let source = Source::new();
    let repo = source.repo();

    // 100 tagged commits: a clone wants 100 objects, a request body over
    // 1 KiB and under the post buffer, which git gzips.
    add_tagged_commits(&repo, 1, 100);
    let clone = cli_clone(&source, "clone-100", "2", 1024 * 1024);
    assert_eq!(git(&clone, &["tag"]).lines().count(), 100);
    let requests = source.server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "POST" && r.content_encoding.as_deref() == Some("gzip")),
        "no gzip request: {requests:#?}"
    );

    // 1500 (75 KB of `want` lines): a request body over the post buffer
    // (set to git's minimum, 64 KiB minus 16 bytes), which git sends chunked.
    add_tagged_commits(&repo, 101, 1500);
    let clone = cli_clone(&source, "clone-1500", "0", 65520);
    assert_eq!(git(&clone, &["tag"]).lines().count(), 1500);
    let requests = source.server.requests();
    assert!(
        requests.iter().any(|r| r.method == "POST" && r.chunked),
        "no chunked request: {requests:#?}"
    );
    assert!(requests.iter().all(|r| r.status == 200), "{requests:#?}");

    // And gix manages the same repository.
    let before = requests.len();
    let fetched = source.dest("fetched");
    fs::create_dir_all(fetched.parent().unwrap()).unwrap();
    fetch_package(&source.url(), Some("t750"), &fetched, &loopback()).unwrap();
    assert_eq!(files(&fetched), files(&fixture()));
    let gix_requests = &source.server.requests()[before..];
    assert!(
        gix_requests.iter().all(|r| r.status == 200),
        "{gix_requests:#?}"
    );
    assert!(
        gix_requests
            .iter()
            .all(|r| r.git_protocol.as_deref() == Some("version=2")),
        "{gix_requests:#?}"
    );
}

#[test]
fn pushes_are_refused() {
    let source = Source::new();
    let clone = source.tmp.path().join("clone");
    git(
        source.tmp.path(),
        &["clone", "-q", &source.url(), clone.to_str().unwrap()],
    );
    fs::write(clone.join("margo.yaml"), "pushed: true\n").unwrap();
    git(&clone, &["commit", "-q", "-am", "try to push"]);
    let before = git(&source.repo(), &["rev-parse", "HEAD"]);

    let out = git_output(&clone, &["push", "origin", "HEAD:refs/heads/pushed"]);

    assert!(!out.status.success(), "push succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: 403"), "{stderr}");
    assert_eq!(git(&source.repo(), &["rev-parse", "HEAD"]), before);
    assert!(
        !git_output(
            &source.repo(),
            &["rev-parse", "--verify", "refs/heads/pushed"]
        )
        .status
        .success()
    );
}

#[test]
fn dropping_the_server_stops_it() {
    let source = Source::new();
    let addr = source
        .server
        .url
        .strip_prefix("http://")
        .unwrap()
        .to_owned();
    // An idle kept-alive connection must not keep the server alive.
    let idle = std::net::TcpStream::connect(&addr).unwrap();
    let Source { tmp, server } = source;
    drop(server);
    drop(idle);
    assert!(std::net::TcpStream::connect(&addr).is_err());
    drop(tmp);
}

/// The LO's mirror: a first fetch takes everything, the next one only the
/// new commit's objects, an unchanged remote sends no pack, and a folder of
/// any fetched commit reads back byte for byte; limits are enforced.
#[test]
fn a_mirror_fetches_incrementally_and_reads_folders_of_commits() {
    let src = Source::new();
    let mirror_dir = src.dest("mirror.git");
    let mirror = edge_workspace::git::Mirror::open_or_init(&mirror_dir).unwrap();
    assert_eq!(mirror.head().unwrap(), None);
    let plain: std::sync::Arc<edge_workspace::git::ConfigureClient> = std::sync::Arc::new(|b| b);
    let first = mirror.fetch(&src.url(), plain.clone()).unwrap();
    let head = git(&src.repo(), &["rev-parse", "HEAD"]).trim().to_owned();
    assert_eq!(first.head.as_deref(), Some(head.as_str()));
    assert!(first.objects > 5, "{first:?}");

    fs::write(src.repo().join("resources/extra.md"), "one more\n").unwrap();
    git(&src.repo(), &["add", "-A"]);
    git(&src.repo(), &["commit", "-q", "-m", "extra"]);
    let second = mirror.fetch(&src.url(), plain.clone()).unwrap();
    let new_head = git(&src.repo(), &["rev-parse", "HEAD"]).trim().to_owned();
    assert_eq!(second.head.as_deref(), Some(new_head.as_str()));
    // The new commit, its root and `resources` trees and the new blob (the
    // pack may add a delta base): not the whole history again.
    assert!(
        (4..=6).contains(&second.objects) && second.objects < first.objects,
        "{first:?} then {second:?}"
    );
    assert_eq!(mirror.depth(&head).unwrap(), 1);
    assert_eq!(mirror.depth(&new_head).unwrap(), 2);
    let third = mirror.fetch(&src.url(), plain).unwrap();
    assert_eq!((third.objects, third.head), (0, Some(new_head.clone())));
    files_at_reads_a_commits_folder_within_its_limits(&mirror, &head, &new_head);
    // Reopening keeps what was fetched.
    let again = edge_workspace::git::Mirror::open_or_init(&mirror_dir).unwrap();
    assert_eq!(again.head().unwrap(), Some(new_head));
}

/// `files_at` reads the `.md` files of a folder at either commit, none of
/// a folder that is not there, and refuses too many files, too many bytes
/// or an unknown commit.
fn files_at_reads_a_commits_folder_within_its_limits(
    mirror: &edge_workspace::git::Mirror,
    head: &str,
    new_head: &str,
) {
    let files = mirror
        .files_at(new_head, "resources", ".md", 100, 1 << 20)
        .unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["description.md", "extra.md"]);
    assert_eq!(files[1].1, b"one more\n");
    assert!(
        mirror
            .files_at(head, "resources", ".md", 100, 1 << 20)
            .unwrap()
            .len()
            == 1
    );
    assert!(
        mirror
            .files_at(new_head, "nothing-here", ".md", 100, 1 << 20)
            .unwrap()
            .is_empty()
    );
    let e = mirror
        .files_at(new_head, "resources", ".md", 1, 1 << 20)
        .unwrap_err();
    assert!(matches!(e, GitError::TooLarge { .. }), "{e}");
    let e = mirror
        .files_at(new_head, "resources", ".md", 100, 4)
        .unwrap_err();
    assert!(matches!(e, GitError::TooLarge { .. }), "{e}");
    assert!(
        mirror
            .files_at(&"0".repeat(40), "resources", ".md", 100, 1 << 20)
            .is_err()
    );
}
