//! Debian's `docker-registry` (CNCF distribution v2) on loopback for tests.
//!
//! [`start`] runs `/usr/bin/docker-registry` with a generated configuration:
//! filesystem storage in a fresh temporary folder, `127.0.0.1` on a port picked
//! by the kernel, no authentication ([`start_with_auth`]: one user in an
//! `htpasswd` file made with Debian's `apache2-utils`, and an access log
//! of every request, [`Registry::requests`]; [`start_with_token`]: bearer
//! tokens from `tests/registry/token_server.py`, the token server of the registry's
//! token authentication, trading that one user's credentials for a signed
//! JWT). It returns once `GET /v2/`
//! answers 200 (401 with authentication) and
//! fails with the registry's own error output when it exits or does not answer
//! in time. Dropping the [`Registry`] kills and reaps the process and deletes
//! its storage. It must never listen beyond loopback, never read or write
//! outside its temporary folder, and never outlive the test that started it.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The Debian package's registry binary.
const BINARY: &str = "/usr/bin/docker-registry";

/// How long the registry may take to answer `GET /v2/`.
const READY_WITHIN: Duration = Duration::from_secs(15);

/// Pause between two readiness probes.
const PROBE_EVERY: Duration = Duration::from_millis(20);

/// Attempts when the picked port was taken between picking and binding.
const ATTEMPTS: usize = 3;

/// A running registry; killed and reaped on drop.
#[derive(Debug)]
pub struct Registry {
    /// `127.0.0.1:PORT`, usable as the registry part of a reference.
    pub addr: String,
    /// The storage root (`storage.filesystem.rootdirectory`).
    pub root: PathBuf,
    log: PathBuf,
    child: Child,
    token: Option<TokenServer>,
    // Dropped after `child` is reaped (see `Drop`), deleting config and storage.
    _dir: tempfile::TempDir,
}

/// The token server of a registry started with [`start_with_token`].
pub struct TokenServer {
    /// `http://127.0.0.1:PORT`; tokens are asked at `/token`.
    pub url: String,
    dir: PathBuf,
    _daemon: crate::co::Daemon,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("url", &self.url)
            .finish()
    }
}

/// The `service` the registry names in its challenges.
pub const TOKEN_SERVICE: &str = "edge-test-registry";

impl Registry {
    /// The token requests its token server answered, in order: `user` (empty
    /// for none, `?` for wrong credentials) and the `access` granted.
    ///
    /// # Panics
    /// When the registry has no token server.
    #[must_use]
    pub fn token_requests(&self) -> Vec<serde_json::Value> {
        let server = self.token.as_ref().expect("a registry with a token server");
        fs::read_to_string(server.dir.join("token-requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// A token for `scope` (`repository:NAME:pull`) from its token server,
    /// asked with `user` and `password`, as a client would ask.
    ///
    /// # Panics
    /// When the registry has no token server or the server refuses.
    #[must_use]
    pub fn issue_token(&self, user: &str, password: &str, scope: &str) -> String {
        let server = self.token.as_ref().expect("a registry with a token server");
        let answer: serde_json::Value = reqwest::blocking::Client::new()
            .get(format!("{}/token", server.url))
            .query(&[("service", TOKEN_SERVICE), ("scope", scope)])
            .basic_auth(user, Some(password))
            .send()
            .and_then(reqwest::blocking::Response::error_for_status)
            .and_then(reqwest::blocking::Response::json)
            .expect("a token from the token server");
        answer["token"].as_str().expect("a token").to_owned()
    }
}

impl Registry {
    /// The request lines (`GET /v2/… HTTP/1.1" 200`) of its access log, in
    /// order (only with [`start_with_auth`]; empty otherwise).
    #[must_use]
    pub fn requests(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (_, rest) = l.split_once(" \"")?;
                let (request, after) = rest.split_once('"')?;
                let status = after.split_whitespace().next()?;
                Some(format!("{request} {status}"))
            })
            .collect()
    }

    /// Where the registry keeps the blob with this `sha256:` digest; tests
    /// overwrite it to simulate a registry serving tampered bytes.
    #[must_use]
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        let prefix = hex.get(..2).unwrap_or(hex);
        self.root
            .join("docker/registry/v2/blobs/sha256")
            .join(prefix)
            .join(hex)
            .join("data")
    }
}

impl Registry {
    /// Push `data` as the one layer of an image manifest tagged
    /// `name:tag` (the empty config), as a WebAssembly module or a binary is
    /// pushed; returns the layer's digest.
    pub fn push_blob(&self, name: &str, tag: &str, data: &[u8], media_type: &str) -> String {
        let http = reqwest::blocking::Client::new();
        let base = format!("http://{}/v2/{name}", self.addr);
        let upload = |bytes: &[u8]| {
            let digest = edge_model::digest::sha256(bytes).to_string();
            let started = http
                .post(format!("{base}/blobs/uploads/"))
                .send()
                .expect("start an upload");
            assert_eq!(started.status().as_u16(), 202, "upload refused");
            let location = started.headers()["location"]
                .to_str()
                .expect("a readable Location")
                .to_owned();
            let location = if location.starts_with("http") {
                location
            } else {
                format!("http://{}{location}", self.addr)
            };
            let sep = if location.contains('?') { '&' } else { '?' };
            let done = http
                .put(format!("{location}{sep}digest={digest}"))
                .body(bytes.to_vec())
                .send()
                .expect("finish an upload");
            assert_eq!(done.status().as_u16(), 201, "upload not accepted");
            digest
        };
        let config = upload(b"{}");
        let layer = upload(data);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": media_type, "digest": layer, "size": data.len()}],
        });
        let put = http
            .put(format!("{base}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.to_string())
            .send()
            .expect("push the manifest");
        assert_eq!(put.status().as_u16(), 201, "manifest not accepted");
        layer
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // The process may already have exited; either way reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start a registry on `127.0.0.1` and wait until it answers.
pub fn start() -> io::Result<Registry> {
    start_as(Auth::Open)
}

/// [`start`], wanting `user` and `password` for every request (HTTP Basic
/// against an `htpasswd` file) and logging every request.
pub fn start_with_auth(user: &str, password: &str) -> io::Result<Registry> {
    start_as(Auth::Basic(user, password))
}

/// [`start`], wanting a bearer token from its own token server for every
/// request (the registry's `auth.token`: the realm, its service and issuer,
/// and the server's certificate as the root bundle); the server gives
/// `user` with `password` pull and push on any repository. Logs every
/// request.
pub fn start_with_token(user: &str, password: &str) -> io::Result<Registry> {
    start_as(Auth::Token(user, password))
}

/// How a registry wants callers to authenticate.
#[derive(Debug, Clone, Copy)]
enum Auth<'a> {
    Open,
    Basic(&'a str, &'a str),
    Token(&'a str, &'a str),
}

fn start_as(auth: Auth<'_>) -> io::Result<Registry> {
    if !Path::new(BINARY).is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "`{BINARY}` is missing; install Debian's docker-registry package \
                 (`apt-get install docker-registry`)"
            ),
        ));
    }
    let mut last = None;
    for _ in 0..ATTEMPTS {
        match start_once(auth) {
            Ok(registry) => return Ok(registry),
            Err(Failure::PortTaken(e)) => last = Some(e),
            Err(Failure::Other(e)) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("the registry did not start")))
}

enum Failure {
    PortTaken(io::Error),
    Other(io::Error),
}

fn start_once(auth: Auth<'_>) -> Result<Registry, Failure> {
    let dir = tempfile::tempdir().map_err(Failure::Other)?;
    let root = dir.path().join("storage");
    fs::create_dir(&root).map_err(Failure::Other)?;
    let addr = free_port().map_err(Failure::Other)?;
    let config = dir.path().join("config.yml");
    let mut token = None;
    let auth_section = match auth {
        Auth::Open => String::new(),
        Auth::Token(user, password) => {
            let mut cmd = Command::new("/usr/bin/python3");
            cmd.arg(crate::co::repo_root().join("tests/registry/token_server.py"))
                .arg("--dir")
                .arg(dir.path())
                .args(["--user", user, "--password", password])
                .args(["--service", TOKEN_SERVICE, "--issuer", "edge-test-issuer"]);
            let (daemon, url) = crate::co::Daemon::spawn(cmd, "token server listening on ");
            let section = format!(
                "auth:\n  token:\n    realm: {url}/token\n    service: {TOKEN_SERVICE}\n    \
                 issuer: edge-test-issuer\n    rootcertbundle: {}\n",
                dir.path().join("root.crt").display()
            );
            token = Some(TokenServer {
                url,
                dir: dir.path().to_owned(),
                _daemon: daemon,
            });
            section
        }
        Auth::Basic(user, password) => {
            let file = dir.path().join("htpasswd");
            let made = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .map_err(|e| {
                    Failure::Other(io::Error::new(
                        e.kind(),
                        format!("cannot run htpasswd (Debian's apache2-utils): {e}"),
                    ))
                })?;
            if !made.status.success() {
                return Err(Failure::Other(io::Error::other(format!(
                    "htpasswd failed: {}",
                    String::from_utf8_lossy(&made.stderr)
                ))));
            }
            fs::write(&file, &made.stdout).map_err(Failure::Other)?;
            format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                file.display()
            )
        }
    };
    fs::write(
        &config,
        format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: {quiet}\n\
             storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n{auth_section}",
            root = root.display(),
            quiet = matches!(auth, Auth::Open),
        ),
    )
    .map_err(Failure::Other)?;
    let log_path = dir.path().join("registry.log");
    let log = fs::File::create(&log_path).map_err(Failure::Other)?;
    let log_err = log.try_clone().map_err(Failure::Other)?;
    let child = Command::new(BINARY)
        .arg("serve")
        .arg(&config)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(Failure::Other)?;
    let mut registry = Registry {
        addr: addr.to_string(),
        root,
        log: log_path.clone(),
        child,
        token,
        _dir: dir,
    };
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if probe(addr, !matches!(auth, Auth::Open)) {
            return Ok(registry);
        }
        let log = || fs::read_to_string(&log_path).unwrap_or_default();
        if let Ok(Some(status)) = registry.child.try_wait() {
            let text = log();
            let e = io::Error::other(format!(
                "`docker-registry` exited with {status} before answering on {addr}:\n{text}"
            ));
            return Err(if text.contains("address already in use") {
                Failure::PortTaken(e)
            } else {
                Failure::Other(e)
            });
        }
        if Instant::now() >= deadline {
            return Err(Failure::Other(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "`docker-registry` did not answer `GET /v2/` on {addr} within {}s:\n{}",
                    READY_WITHIN.as_secs(),
                    log()
                ),
            )));
        }
        thread::sleep(PROBE_EVERY);
    }
}

/// A loopback port the kernel considers free right now.
fn free_port() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.local_addr()
}

/// Whether `GET /v2/` answers 200 (401 when it wants credentials).
fn probe(addr: SocketAddr, auth: bool) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /v2/ HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    if stream.read_exact(&mut head).is_err() {
        return false;
    }
    head.starts_with(b"HTTP/1.") && &head[8..12] == if auth { b" 401" } else { b" 200" }
}
