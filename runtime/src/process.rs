//! A supervised native process: started in its own process group with a
//! clean environment, its output appended to a log file, restarted after it
//! exits (wait `interval`, at most `limit` times in a row; a run longer than
//! `stable_after` resets the count, as the EdgeX system-management agent
//! did), and stopped gracefully: SIGTERM to the group, then SIGKILL after the
//! grace period. What it observed is always available as a [`Status`].
//!
//! The log is opened without following links (see [`crate::control`]); the
//! process started is recorded in a [`Ledger`] (pid, start time, boot), so
//! a supervisor that died with its daemon leaves nothing the next one
//! cannot find and end, and nothing it would mistake for it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::ledger::{Ledger, end_recorded, identify, signal_group};

/// When and how often to restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Wait between an exit and the next start.
    pub interval: Duration,
    /// Most restarts in a row before giving up (`Phase::Failed`).
    pub limit: u32,
    /// A run at least this long resets the count.
    pub stable_after: Duration,
}

impl RestartPolicy {
    /// After a run that lasted `ran`: whether to start again, counting
    /// `in_a_row` restarts (a stable run resets the count).
    pub fn again(&self, in_a_row: &mut u32, ran: Duration) -> bool {
        if ran >= self.stable_after {
            *in_a_row = 0;
        }
        if *in_a_row >= self.limit {
            return false;
        }
        *in_a_row += 1;
        true
    }
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            limit: 5,
            stable_after: Duration::from_secs(30),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its whole environment (plus `PATH`); parameters land here.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub dir: PathBuf,
    /// File its standard output and error are appended to.
    pub log: PathBuf,
    /// Restart policy.
    pub restart: RestartPolicy,
    /// The account it runs as (the daemon's own when `None`).
    pub user: Option<RunAs>,
    /// Where its process is recorded, under which key.
    pub record: Option<(Arc<dyn Ledger>, String)>,
}

/// Why an account cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The account list does not read.
    #[error("cannot read /etc/passwd")]
    Read(#[source] std::io::Error),
    /// No such account.
    #[error("there is no account `{0}` on this host (looked in /etc/passwd)")]
    Unknown(String),
}

/// A local account a process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// Its name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

impl RunAs {
    /// An account with no name on this host, given to one workload: its
    /// own user and group id `uid`.
    #[must_use]
    pub fn anonymous(uid: u32) -> Self {
        Self {
            name: format!("edged-{uid}"),
            uid,
            gid: uid,
        }
    }

    /// The account `name` (or a numeric uid) as `/etc/passwd` lists it.
    ///
    /// # Errors
    /// When there is no such account, or the file cannot be read.
    pub fn lookup(name: &str) -> Result<Self, AccountError> {
        let passwd = std::fs::read_to_string("/etc/passwd").map_err(AccountError::Read)?;
        Self::find(&passwd, name).ok_or_else(|| AccountError::Unknown(name.to_owned()))
    }

    /// `name` in the text of a passwd file.
    fn find(passwd: &str, name: &str) -> Option<Self> {
        passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let (user, uid, gid) = (
                *f.first()?,
                f.get(2)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
            );
            (user == name || name.parse() == Ok(uid)).then(|| Self {
                name: user.to_owned(),
                uid,
                gid,
            })
        })
    }
}

/// The effective user id of this process (0: it may switch accounts).
#[must_use]
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Where a supervised process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Running.
    Running,
    /// Exited; waiting to start again.
    BackingOff,
    /// Gave up: it kept exiting, or could not be started.
    Failed,
    /// Stopped on request.
    Stopped,
}

/// What the supervisor observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Where it is.
    pub phase: Phase,
    /// The running process's id.
    pub pid: Option<u32>,
    /// Restarts since it was first started.
    pub restarts: u32,
    /// How the last run ended, or why it could not start.
    pub last_error: Option<String>,
}

struct Shared {
    status: Mutex<Status>,
    stopping: Mutex<bool>,
    changed: Condvar,
}

impl Shared {
    fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status());
        self.changed.notify_all();
    }

    fn stopping(&self) -> bool {
        *self.stopping.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait up to `d` unless a stop is asked; `true` when it was.
    fn wait_unless_stopped(&self, d: Duration) -> bool {
        let guard = self.stopping.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, d, |stopping| !*stopping)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

/// A process under supervision. Dropping it stops the process (1 s grace).
pub struct Supervisor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

fn spawn(spec: &ProcessSpec) -> std::io::Result<Child> {
    let log = crate::control::append_log(&spec.log)?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    if let Some(u) = &spec.user {
        std::os::unix::process::CommandExt::gid(&mut cmd, u.gid);
        std::os::unix::process::CommandExt::uid(&mut cmd, u.uid);
        cmd.env("USER", &u.name).env("LOGNAME", &u.name);
    }
    let child = spawn_when_not_busy(&mut cmd).map_err(|e| match &spec.user {
        Some(u) if e.kind() == std::io::ErrorKind::PermissionDenied => std::io::Error::new(
            e.kind(),
            format!(
                "cannot run it as `{}`: {e} (edged switches accounts only when it runs as root)",
                u.name
            ),
        ),
        _ => e,
    })?;
    // Remembered so that a supervisor killed with its daemon (kill -9,
    // power loss) leaves nothing the next one cannot find and end. Not yet
    // waited for, the child cannot have given its pid to another process.
    if let Some((ledger, key)) = &spec.record {
        ledger.set_process(key, identify(child.id()).as_ref());
    }
    Ok(child)
}

/// `cmd.spawn()`, tried again while the program is "text file busy".
///
/// The program is a private copy written just before (see the driver). Any
/// other thread of this daemon that forks in that moment (podman, git, another
/// workload) holds the copy's write descriptor until its own `exec`, and the
/// kernel refuses to run a file open for writing. That lasts microseconds, so
/// a few short tries clear it; a crash-loop restart would be counted instead.
fn spawn_when_not_busy(cmd: &mut Command) -> std::io::Result<Child> {
    let mut pause = Duration::from_millis(1);
    for _ in 0..10 {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            done => return done,
        }
    }
    cmd.spawn()
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "ended".to_owned(),
    }
}

fn run(spec: &ProcessSpec, shared: &Shared) {
    let mut in_a_row = 0u32;
    loop {
        let started = Instant::now();
        match spawn(spec) {
            Ok(mut child) => {
                shared.set(|s| {
                    s.phase = Phase::Running;
                    s.pid = Some(child.id());
                });
                let ended = child
                    .wait()
                    .map_or_else(|e| format!("could not be waited for: {e}"), describe_exit);
                // Whatever it started and left behind goes with it: no
                // duplicates after the restart.
                signal_group(child.id(), Signal::KILL);
                if let Some((ledger, key)) = &spec.record {
                    ledger.set_process(key, None);
                }
                shared.set(|s| {
                    s.pid = None;
                    s.last_error = Some(ended);
                });
            }
            Err(e) => shared.set(|s| {
                s.pid = None;
                s.last_error = Some(format!("cannot start `{}`: {e}", spec.program.display()));
            }),
        }
        if shared.stopping() {
            break;
        }
        if !spec.restart.again(&mut in_a_row, started.elapsed()) {
            shared.set(|s| s.phase = Phase::Failed);
            return;
        }
        shared.set(|s| {
            s.phase = Phase::BackingOff;
            s.restarts += 1;
        });
        if shared.wait_unless_stopped(spec.restart.interval) {
            break;
        }
    }
    shared.set(|s| s.phase = Phase::Stopped);
}

impl Supervisor {
    /// Start `spec` under supervision; returns at once (see [`Supervisor::status`]).
    ///
    /// # Errors
    /// When the supervising thread cannot be started.
    pub fn start(spec: ProcessSpec) -> std::io::Result<Self> {
        if let Some((ledger, key)) = &spec.record {
            end_recorded(ledger.as_ref(), key);
        }
        let shared = Arc::new(Shared {
            status: Mutex::new(Status {
                phase: Phase::Running,
                pid: None,
                restarts: 0,
                last_error: None,
            }),
            stopping: Mutex::new(false),
            changed: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("supervise".to_owned())
            .spawn(move || run(&spec, &s))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// What it observed now.
    #[must_use]
    pub fn status(&self) -> Status {
        self.shared.status().clone()
    }

    /// Wait up to `d` for the status to change; returns the status then.
    #[must_use]
    pub fn wait_change(&self, d: Duration) -> Status {
        let guard = self.shared.status();
        let before = guard.clone();
        let (guard, _) = self
            .shared
            .changed
            .wait_timeout_while(guard, d, |s| *s == before)
            .unwrap_or_else(PoisonError::into_inner);
        guard.clone()
    }

    fn signal(&self, sig: Signal) {
        if let Some(pid) = self.shared.status().pid {
            // The group: the process and anything it started.
            signal_group(pid, sig);
        }
    }

    /// Stop: SIGTERM to the process group, SIGKILL after `grace`; returns
    /// the final status (`Stopped`, or `Failed` when it had given up).
    #[must_use]
    pub fn stop(mut self, grace: Duration) -> Status {
        self.stop_inner(grace)
    }

    fn stop_inner(&mut self, grace: Duration) -> Status {
        *self
            .shared
            .stopping
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.changed.notify_all();
        self.signal(Signal::TERM);
        let deadline = Instant::now() + grace;
        loop {
            let done = self.thread.as_ref().is_none_or(JoinHandle::is_finished);
            if done {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.signal(Signal::KILL);
                break;
            }
            let _ = self.wait_change(left.min(Duration::from_millis(50)));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.status()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop_inner(Duration::from_secs(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &std::path::Path, script: &str, restart: RestartPolicy) -> ProcessSpec {
        ProcessSpec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: [("GREETING".to_owned(), "hello".to_owned())].into(),
            dir: dir.to_owned(),
            log: dir.join("out.log"),
            restart,
            user: None,
            record: None,
        }
    }

    #[test]
    fn accounts_are_found_by_name_or_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nbroken\n";
        let n = RunAs::find(passwd, "nobody").unwrap();
        assert_eq!((n.uid, n.gid), (65534, 65534));
        assert_eq!(RunAs::find(passwd, "65534").unwrap().name, "nobody");
        assert_eq!(RunAs::find(passwd, "ghost"), None);
        assert!(
            RunAs::lookup("no-such-account-here")
                .unwrap_err()
                .to_string()
                .contains("no account")
        );
    }

    fn until(s: &Supervisor, what: &str, f: impl Fn(&Status) -> bool) -> Status {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let st = s.status();
            if f(&st) {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {st:?}"
            );
            let _ = s.wait_change(Duration::from_millis(100));
        }
    }

    fn fast(limit: u32) -> RestartPolicy {
        RestartPolicy {
            interval: Duration::from_millis(20),
            limit,
            stable_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn it_runs_with_its_environment_logs_and_stops_on_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let s = Supervisor::start(spec(
            dir.path(),
            "trap 'echo bye; exit 0' TERM; echo \"$GREETING\"; touch ready; while :; do sleep 0.05; done",
            fast(3),
        ))
        .unwrap();
        until(&s, "running", |st| {
            st.phase == Phase::Running && st.pid.is_some()
        });
        while !dir.path().join("ready").exists() {
            let _ = s.wait_change(Duration::from_millis(20));
        }
        let started = Instant::now();
        let end = s.stop(Duration::from_secs(10));
        assert_eq!(
            (end.phase, end.pid, end.restarts),
            (Phase::Stopped, None, 0)
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "SIGTERM was honoured"
        );
        let log = std::fs::read_to_string(dir.path().join("out.log")).unwrap();
        assert!(log.contains("hello") && log.contains("bye"), "{log}");
    }

    #[test]
    fn a_process_that_ignores_sigterm_is_killed_after_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let s = Supervisor::start(spec(
            dir.path(),
            "trap '' TERM; touch ready; while :; do sleep 0.05; done",
            fast(3),
        ))
        .unwrap();
        while !dir.path().join("ready").exists() {
            let _ = s.wait_change(Duration::from_millis(20));
        }
        let end = s.stop(Duration::from_millis(300));
        assert_eq!(end.phase, Phase::Stopped);
        assert_eq!(end.last_error.as_deref(), Some("killed by signal 9"));
    }

    #[test]
    fn a_crash_loop_gives_up_after_the_limit_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let s = Supervisor::start(spec(dir.path(), "exit 3", fast(2))).unwrap();
        let end = until(&s, "failed", |st| st.phase == Phase::Failed);
        assert_eq!(end.restarts, 2);
        assert_eq!(end.last_error.as_deref(), Some("exited with status 3"));
        assert_eq!(s.stop(Duration::from_secs(1)).phase, Phase::Failed);
    }

    #[test]
    fn a_crash_is_followed_by_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = Supervisor::start(spec(
            dir.path(),
            "if [ ! -e crashed ]; then touch crashed; exit 1; fi; while :; do sleep 0.05; done",
            fast(3),
        ))
        .unwrap();
        let st = until(&s, "running again", |st| {
            st.restarts == 1 && st.phase == Phase::Running && st.pid.is_some()
        });
        assert_eq!(st.last_error.as_deref(), Some("exited with status 1"));
        let _ = s.stop(Duration::from_secs(5));
    }

    #[test]
    fn a_program_that_does_not_exist_fails_with_a_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let mut sp = spec(dir.path(), "", fast(1));
        sp.program = dir.path().join("missing");
        let s = Supervisor::start(sp).unwrap();
        let end = until(&s, "failed", |st| st.phase == Phase::Failed);
        assert!(end.last_error.unwrap().starts_with("cannot start `"), "");
    }
}
