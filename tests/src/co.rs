//! A real `edged --mode co` process on 127.0.0.1 port 0, and an `edgectl`
//! runner pointed at it.
//!
//! The daemon's readiness line gives the port; its stderr is kept for
//! diagnostics; dropping the handle kills the process. Binaries are the ones
//! cargo built for this workspace (built on first use when missing).

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::wait::{EVERY, within};

/// The repository root.
#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Path of a workspace binary (`edged`, `edgectl`), building it once if needed.
///
/// # Panics
/// When the binary cannot be built.
#[must_use]
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    let path = target.join("debug").join(name);
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--bin", name])
            .current_dir(repo_root())
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo to build `{name}`: {e}"));
        assert!(status.success(), "building `{name}` failed");
        built.push(name.to_owned());
    }
    path
}

/// Stdout of a finished command, asserting it exited 0 (stdout and stderr in the message otherwise).
///
/// # Panics
/// When the command did not exit 0.
pub fn ok(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{out}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Assert a command failed the way users should see it: exit 1, one `error:`
/// sentence containing `want`, no panic or backtrace.
///
/// # Panics
/// When it did not.
pub fn fails(o: &Output, want: &str) {
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{e}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(e.starts_with("error: "), "{e}");
    assert!(e.contains(want), "want `{want}` in:\n{e}");
    assert!(!e.contains("panicked") && !e.contains("backtrace"), "{e}");
}

/// Run the real `git` CLI in `dir` (with a throwaway identity) and return its stdout.
///
/// # Panics
/// When git fails.
#[must_use]
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git: {e}"));
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Copy a folder recursively.
///
/// # Panics
/// On any I/O error.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
    for e in std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
    {
        let dst = to.join(e.file_name());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap_or_else(|err| panic!("{err}"));
        }
    }
}

/// Write, under `dir`, a copy of the hello-wasm package with id `hello-big`
/// whose profile has `deviceConstraints` (2 CPU cores, 1 GiB memory); returns its folder.
///
/// # Panics
/// On any I/O error.
#[must_use]
pub fn constrained_package(dir: &Path) -> PathBuf {
    let pkg = dir.join("constrained");
    let src = repo_root().join("fixtures/packages/hello-wasm");
    copy_tree(&src, &pkg);
    let yaml = std::fs::read_to_string(src.join("margo.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .replace("id: hello-wasm\n", "id: hello-big\n")
        .replace(
            "    components:\n",
            "    deviceConstraints:\n      capacityRequirements:\n        cpu: {cores: 2}\n        memory: 1Gi\n    components:\n",
        );
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
    pkg
}

/// A running central orchestrator.
pub struct Co {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The admin token.
    pub token: String,
    /// The data directory.
    pub data: PathBuf,
    /// Where `edgectl login` keeps its files in these tests.
    pub config_home: tempfile::TempDir,
    daemon: Daemon,
}

impl Co {
    /// Start `edged --mode co --data DATA --listen 127.0.0.1:0` with `extra`
    /// arguments; loopback app sources are allowed (`--source-allow`) unless
    /// `extra` names its own.
    ///
    /// # Panics
    /// When the daemon does not report ready within 300 seconds.
    #[must_use]
    pub fn start(data: &Path, extra: &[&str]) -> Co {
        Self::start_with(data, extra, &bin("edged"))
    }

    /// As [`Co::start`], with a given `edged` binary (benchmarks use release builds).
    ///
    /// # Panics
    /// When the daemon does not report ready within 300 seconds.
    #[must_use]
    pub fn start_with(data: &Path, extra: &[&str], edged: &Path) -> Co {
        Self::start_command(Command::new(edged), data, extra)
    }

    /// As [`Co::start`], with environment variables (such as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`).
    ///
    /// # Panics
    /// When the daemon does not report ready within 300 seconds.
    #[must_use]
    pub fn start_with_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Co {
        let mut cmd = Command::new(bin("edged"));
        cmd.envs(env.iter().copied());
        Self::start_command(cmd, data, extra)
    }

    /// As [`Co::start`], as a shell runs a foreground job: in a process
    /// group of its own, which [`Co::interrupt_job`] signals as Ctrl-C in
    /// a terminal does (the CO and every process it started).
    ///
    /// # Panics
    /// When the daemon does not report ready within 300 seconds.
    #[must_use]
    pub fn start_as_job(data: &Path, extra: &[&str]) -> Co {
        use std::os::unix::process::CommandExt as _;
        let mut cmd = Command::new(bin("edged"));
        cmd.process_group(0);
        Self::start_command(cmd, data, extra)
    }

    /// SIGINT to the CO's process group (see [`Co::start_as_job`]).
    pub fn interrupt_job(&self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args(["-INT", "--", &format!("-{pid}")])
                .status();
        }
    }

    fn start_command(mut cmd: Command, data: &Path, extra: &[&str]) -> Co {
        cmd.args(["--mode", "co", "--data"])
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(if extra.contains(&"--south-listen") {
                &[][..]
            } else {
                &["--south-listen", "127.0.0.1:0"][..]
            })
            // The kit's Git servers and registries listen on loopback, which
            // app sources may not name unless allowed.
            .args(if extra.contains(&"--source-allow") {
                &[][..]
            } else {
                &["--source-allow", "127.0.0.0/8,::1"][..]
            })
            .args(extra);
        let (daemon, url) = Daemon::spawn(cmd, "edged co listening on ");
        let token = std::fs::read_to_string(data.join("admin.token"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let config_home = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        Co {
            url,
            token,
            data: data.to_path_buf(),
            config_home,
            daemon,
        }
    }

    /// The file of the CO's CA certificate (what `EDGE_CA` names for `edgectl`).
    #[must_use]
    pub fn ca_file(&self) -> PathBuf {
        self.data.join("ca/ca.crt")
    }

    /// The CO's CA certificate (PEM), which issued its north certificate.
    #[must_use]
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.data.join("ca/ca.crt"))
            .unwrap_or_else(|e| panic!("the CO's CA certificate: {e}"))
    }

    /// A north API client trusting the CO's CA, with `token` (or none).
    ///
    /// # Panics
    /// When the client cannot be made.
    #[must_use]
    pub fn client(&self, token: Option<&str>) -> edge_api::Client {
        edge_api::Client::with_ca(&self.url, token.map(str::to_owned), Some(&self.ca_pem()))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A plain HTTP client trusting the CO's CA (for requests by hand).
    ///
    /// # Panics
    /// When the CA certificate does not read.
    #[must_use]
    pub fn http(&self) -> reqwest::blocking::Client {
        let ca = reqwest::Certificate::from_pem(&self.ca_pem()).unwrap_or_else(|e| panic!("{e}"));
        reqwest::blocking::Client::builder()
            .add_root_certificate(ca)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Run `edgectl` with this server and token in its environment.
    #[must_use]
    pub fn edgectl(&self, args: &[&str]) -> Output {
        self.edgectl_command(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run edgectl: {e}"))
    }

    /// `edgectl co add app --artifact ARTIFACT` (a folder, Git URL or `oci://`
    /// reference), which must succeed; its output.
    ///
    /// # Panics
    /// When it fails.
    pub fn add_app(&self, artifact: &str) -> String {
        ok(&self.edgectl(&["co", "add", "app", "--artifact", artifact]))
    }

    /// `edgectl co deploy --app APP --site SITE --device DEVICE
    /// --allow-unreported` (the device may not have reported its
    /// capabilities yet), which must succeed; its output.
    ///
    /// # Panics
    /// When it fails.
    pub fn deploy(&self, app: &str, site: &str, device: &str) -> String {
        ok(&self.edgectl(&[
            "co",
            "deploy",
            "--app",
            app,
            "--site",
            site,
            "--device",
            device,
            "--allow-unreported",
        ]))
    }

    /// `edgectl ARGS` with this server and token, to spawn (a long-running
    /// command such as `co watch`).
    #[must_use]
    pub fn edgectl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("edgectl"));
        cmd.args(args)
            .current_dir(repo_root())
            .env("EDGE_SERVER", &self.url)
            .env("EDGE_TOKEN", &self.token)
            .env("EDGE_CA", self.ca_file())
            .env("XDG_CONFIG_HOME", self.config_home.path());
        cmd
    }

    /// What the daemon wrote to stderr so far.
    #[must_use]
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// Send SIGTERM and wait (up to 30 s) for the exit status.
    ///
    /// # Panics
    /// When the daemon does not exit in time.
    #[must_use]
    pub fn stop(self) -> ExitStatus {
        self.daemon.stop()
    }

    /// Kill the daemon with SIGKILL (a crash) and wait for it.
    pub fn kill(self) {
        self.daemon.kill();
    }

    /// Send the daemon a signal (`TERM`, `INT`, …) and return at once.
    pub fn signal(&self, name: &str) {
        self.daemon.signal(name);
    }

    /// The daemon's exit status once it has exited, within `limit`.
    pub fn exited(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.daemon.exited(limit)
    }

    /// The daemon's process id, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.daemon.pid()
    }
}

/// A daemon process started by a test: its stderr is kept for diagnostics,
/// its first stdout line is the readiness line, dropping it kills it.
pub struct Daemon {
    child: Option<Child>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Start `cmd` (with `EDGED_LOG=info`) and wait up to 300 s for a first
    /// stdout line starting with `prefix`; returns the rest of that line.
    ///
    /// # Panics
    /// When the process does not print it.
    #[must_use]
    pub fn spawn(mut cmd: Command, prefix: &str) -> (Daemon, String) {
        let mut child = cmd
            .env("EDGED_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut err) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .extend_from_slice(&buf[..n]);
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let kept = stdout.clone();
            std::thread::spawn(move || {
                let mut lines = BufReader::new(out).lines();
                if let Some(Ok(line)) = lines.next() {
                    let _ = tx.send(line);
                }
                for line in lines.map_while(Result::ok) {
                    kept.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(line);
                }
            });
        }
        let daemon = Daemon {
            child: Some(child),
            stderr,
            stdout,
        };
        let Ok(line) = rx.recv_timeout(Duration::from_secs(300)) else {
            panic!("{cmd:?} did not report ready:\n{}", daemon.log());
        };
        let Some(rest) = line.strip_prefix(prefix) else {
            panic!("unexpected first line: {line}\n{}", daemon.log());
        };
        (daemon, rest.to_owned())
    }

    /// The stdout lines after the first, so far.
    #[must_use]
    pub fn later_lines(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The process id, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What the process wrote to stderr so far.
    #[must_use]
    pub fn log(&self) -> String {
        String::from_utf8_lossy(
            &self
                .stderr
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }

    /// Send SIGTERM and wait (up to 30 s) for the exit status.
    ///
    /// # Panics
    /// When the process does not exit in time.
    #[must_use]
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("already stopped"));
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        within(Duration::from_secs(30), EVERY, || {
            child.try_wait().ok().flatten()
        })
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!("the daemon did not stop after SIGTERM:\n{}", self.log());
        })
    }

    /// Send a signal (`TERM`, `INT`, …) and return at once.
    pub fn signal(&self, name: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .arg(format!("-{name}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// The exit status once the process has exited, within `limit` (the
    /// log stays readable).
    pub fn exited(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        within(limit, EVERY, || child.try_wait().ok().flatten())
    }

    /// SIGKILL and wait.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
