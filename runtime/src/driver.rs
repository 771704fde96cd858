//! The runtime driver trait, one small interface every workload type goes
//! through, and the `process` driver (native programs, an edgectl extension
//! of Margo) on top of the [`Supervisor`](crate::process::Supervisor).
//!
//! A driver is handed a component whose artifact is already a verified local
//! file, starts it, and from then on reports what it observes in Margo's
//! terms: `installed` while it runs, `failed` with a code and message while
//! it is down (and back to `installed` when the restart policy brings it up),
//! `removed` once stopped.
//!
//! A native program runs from a copy in its control folder (see
//! [`crate::control`]), with `work/` there as its own folder, as the
//! account [`Account`] says: when the daemon is root, by default one of its
//! own per workload, so workloads can neither signal nor read one another
//! and none is root unless `root` is named.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use edge_model::ProfileType;
use edge_model::status::State;

use crate::control::ControlDir;
use crate::failure::{ComponentError, FailureCode};
use crate::ledger::{Ledger, MemoryLedger, end_recorded, ids_in, pick_account};
use crate::plan::ComponentPlan;
use crate::process::{Phase, ProcessSpec, RestartPolicy, RunAs, Supervisor};

/// One component to run.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Deployment id.
    pub deployment: String,
    /// The component and its settings.
    pub component: ComponentPlan,
    /// Its artifact, verified, on local disk.
    pub artifact: PathBuf,
    /// Where the artifact came from, for people: its registry reference or
    /// package path and its digest (``from `oci://…:1.0` (sha256:…)``).
    /// Messages name this rather than the local file; empty when unknown.
    pub origin: String,
    /// A folder the driver owns for this component (state, logs).
    pub dir: PathBuf,
    /// Restart policy.
    pub restart: RestartPolicy,
    /// Variables the node sets besides the parameters (the OpenTelemetry
    /// collector's endpoint and resource attributes); they come after the
    /// parameters, so a parameter of the same name does not replace them.
    pub env: Vec<(String, String)>,
}

impl Workload {
    /// Make [`Workload::dir`], the workload's control folder, `0700`, as
    /// every driver does before it starts.
    ///
    /// # Errors
    /// `START`, naming the folder, when it cannot be made.
    pub fn make_dir(&self) -> Result<ControlDir, ComponentError> {
        self.control(0o700)
    }

    /// Make [`Workload::dir`] with `mode` (see [`ControlDir::make`]).
    ///
    /// # Errors
    /// `START`, naming the folder, when it cannot be made.
    pub fn control(&self, mode: u32) -> Result<ControlDir, ComponentError> {
        ControlDir::make(&self.dir, mode).map_err(|e| {
            ComponentError::new(
                FailureCode::Start,
                format!("cannot create `{}`: {e}", self.dir.display()),
            )
        })
    }

    /// The key a driver records this workload under: `deployment/component`.
    #[must_use]
    pub fn key(&self) -> String {
        key(&self.deployment, &self.component.name)
    }
}

/// The key of component `component` of deployment `deployment`.
#[must_use]
pub fn key(deployment: &str, component: &str) -> String {
    format!("{deployment}/{component}")
}

/// What a driver observes of a running component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Margo state.
    pub state: State,
    /// Why, when `failed`.
    pub error: Option<ComponentError>,
    /// Restarts so far.
    pub restarts: u32,
}

/// A workload type.
pub trait Driver: Send + Sync {
    /// The profile type it runs.
    fn kind(&self) -> ProfileType;
    /// `None` when this host can run it, else why not.
    fn unavailable(&self) -> Option<String>;
    /// Start `w`.
    ///
    /// # Errors
    /// When it cannot be started (`ARTIFACT`, `START`, …); nothing is left
    /// running then.
    fn start(&self, w: &Workload) -> Result<Box<dyn Running>, ComponentError>;
    /// End what a killed daemon left of component `component` of
    /// `deployment`, which is being removed, and forget it.
    fn clean(&self, deployment: &str, component: &str) {
        let _ = (deployment, component);
    }
}

/// A component's parameter values as environment variables (text as it is,
/// other JSON values in their JSON form), then the node's own
/// ([`Workload::env`]); a name set twice keeps its last value.
#[must_use]
pub fn env_of(w: &Workload) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = w
        .component
        .settings
        .iter()
        .filter(|(k, _)| !w.env.iter().any(|(n, _)| n == *k))
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    env.extend(w.env.iter().cloned());
    env
}

/// A started component.
pub trait Running: Send {
    /// What it is doing now.
    fn observe(&self) -> Observed;
    /// Its process id, when it is a process of its own.
    fn pid(&self) -> Option<u32> {
        None
    }
    /// Whether it has come to rest after starting (see
    /// [`crate::ledger::resting`]); `None` when the driver cannot tell, and
    /// wall time alone must do.
    fn resting(&self) -> Option<bool> {
        None
    }
    /// Stop it (gracefully, then forcibly after `grace`).
    fn stop(self: Box<Self>, grace: Duration) -> Observed;
}

/// The account native programs run as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Account {
    /// The daemon's own.
    #[default]
    Daemon,
    /// This one (`--run-as USER`; root only when it is named).
    Named(RunAs),
    /// One of its own per workload, from the reserved range
    /// ([`crate::ledger::ACCOUNT_FIRST`]): the default when the daemon is root.
    PerWorkload,
}

/// Native programs.
#[derive(Debug)]
pub struct ProcessDriver {
    /// The account programs run as.
    pub account: Account,
    /// Where processes and accounts given are remembered.
    pub ledger: Arc<dyn Ledger>,
    /// Held while an account is picked.
    giving: Mutex<()>,
}

impl Default for ProcessDriver {
    fn default() -> Self {
        Self::new(Account::Daemon, Arc::new(MemoryLedger::default()))
    }
}

impl ProcessDriver {
    /// A driver running programs as `account`, remembering in `ledger`.
    #[must_use]
    pub fn new(account: Account, ledger: Arc<dyn Ledger>) -> Self {
        Self {
            account,
            ledger,
            giving: Mutex::new(()),
        }
    }

    /// The account workload `key` runs as (`None`: the daemon's own).
    fn user(&self, key: &str) -> Result<Option<RunAs>, ComponentError> {
        match &self.account {
            Account::Daemon => Ok(None),
            Account::Named(u) => Ok(Some(u.clone())),
            Account::PerWorkload => {
                let _held = self.giving.lock().unwrap_or_else(PoisonError::into_inner);
                let mut used = Vec::new();
                for file in ["/etc/passwd", "/etc/group"] {
                    used.extend(ids_in(&std::fs::read_to_string(file).unwrap_or_default()));
                }
                let uid = pick_account(&self.ledger.accounts(), key, &used).ok_or_else(|| {
                    ComponentError::new(
                        FailureCode::Start,
                        format!(
                            "no account left for it: all {} ids from {} are given",
                            crate::ledger::ACCOUNT_COUNT,
                            crate::ledger::ACCOUNT_FIRST
                        ),
                    )
                })?;
                self.ledger.set_account(key, Some(uid));
                Ok(Some(RunAs::anonymous(uid)))
            }
        }
    }
}

struct RunningProcess {
    supervisor: Supervisor,
}

fn observed(s: &crate::process::Status) -> Observed {
    let (state, error) = match s.phase {
        Phase::Running => (State::Installed, None),
        Phase::BackingOff => (
            State::Failed,
            Some(ComponentError::new(
                FailureCode::Exited,
                format!(
                    "{}; restarting",
                    s.last_error.as_deref().unwrap_or("it stopped")
                ),
            )),
        ),
        Phase::Failed => (
            State::Failed,
            Some(ComponentError::new(
                FailureCode::GaveUp,
                format!(
                    "{}; gave up after {} restarts",
                    s.last_error.as_deref().unwrap_or("it stopped"),
                    s.restarts
                ),
            )),
        ),
        Phase::Stopped => (State::Removed, None),
    };
    Observed {
        state,
        error,
        restarts: s.restarts,
    }
}

impl Running for RunningProcess {
    fn observe(&self) -> Observed {
        observed(&self.supervisor.status())
    }

    fn pid(&self) -> Option<u32> {
        self.supervisor.status().pid
    }

    fn resting(&self) -> Option<bool> {
        let pid = self.supervisor.status().pid?;
        crate::ledger::resting(&std::path::Path::new("/proc").join(pid.to_string()))
    }

    fn stop(self: Box<Self>, grace: Duration) -> Observed {
        let mut o = observed(&self.supervisor.stop(grace));
        // Stopped on request, whatever state it was in: removed.
        o.state = State::Removed;
        o.error = None;
        o
    }
}

/// Whether account `u` may pass through every folder above `dir` to reach
/// its program: `START` naming the first that stops it, and what to do.
fn reachable(dir: &std::path::Path, u: &RunAs) -> Result<(), ComponentError> {
    use std::os::unix::fs::MetadataExt as _;
    if u.uid == 0 || u.uid == crate::process::euid() {
        return Ok(());
    }
    for above in dir.ancestors().skip(1) {
        let Ok(m) = std::fs::metadata(above) else {
            continue;
        };
        let passes = m.mode() & 0o001 != 0
            || (m.uid() == u.uid && m.mode() & 0o100 != 0)
            || (m.gid() == u.gid && m.mode() & 0o010 != 0);
        if !passes {
            return Err(ComponentError::new(
                FailureCode::Start,
                format!(
                    "`{}` cannot reach its program: `{}` lets no other account pass (mode {:o}); allow it (chmod o+x) or choose the account with --run-as",
                    u.name,
                    above.display(),
                    m.mode() & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

impl Driver for ProcessDriver {
    fn kind(&self) -> ProfileType {
        ProfileType::Process
    }

    fn unavailable(&self) -> Option<String> {
        None
    }

    fn start(&self, w: &Workload) -> Result<Box<dyn Running>, ComponentError> {
        let fail = ComponentError::new;
        let key = w.key();
        let user = self.user(&key)?;
        if let Some(u) = &user {
            reachable(&w.dir, u)?;
        }
        // Others may pass through to the program and `work/`, nothing more.
        let control = w.control(0o711)?;
        // Its own folder is its account's; the program and log stay the daemon's.
        let work = control
            .work(user.as_ref().map(|u| (u.uid, u.gid)))
            .map_err(|e| {
                let to = user.as_ref().map_or("edged", |u| u.name.as_str());
                fail(
                    FailureCode::Start,
                    format!(
                        "cannot give `{}` to `{to}`: {e}",
                        w.dir.join(crate::control::WORK).display()
                    ),
                )
            })?;
        // Run a private copy no workload can write, so the verified artifact
        // stays untouched and a restart runs what was verified.
        let program = control
            .install("program", &w.artifact, user.as_ref().map(|u| u.gid))
            .map_err(|e| {
                fail(
                    FailureCode::Artifact,
                    format!("cannot copy `{}`: {e}", w.artifact.display()),
                )
            })?;
        let log = w.dir.join("output.log");
        drop(control.log("output.log").map_err(|e| {
            fail(
                FailureCode::Start,
                format!("cannot open `{}`: {e}", log.display()),
            )
        })?);
        let mut env: std::collections::BTreeMap<String, String> = env_of(w).into_iter().collect();
        if user.is_some() {
            env.entry("HOME".to_owned())
                .or_insert_with(|| work.display().to_string());
        }
        let supervisor = Supervisor::start(ProcessSpec {
            program,
            args: Vec::new(),
            env,
            dir: work,
            log,
            restart: w.restart,
            user,
            record: Some((self.ledger.clone(), key)),
        })
        .map_err(|e| fail(FailureCode::Start, format!("cannot supervise it: {e}")))?;
        Ok(Box::new(RunningProcess { supervisor }))
    }

    fn clean(&self, deployment: &str, component: &str) {
        let key = key(deployment, component);
        end_recorded(self.ledger.as_ref(), &key);
        self.ledger.set_account(&key, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/packages/hello-process/components/hello.sh")
    }

    fn until(r: &dyn Running, what: &str, f: impl Fn(&Observed) -> bool) -> Observed {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let o = r.observe();
            if f(&o) {
                return o;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {o:?}"
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }

    #[test]
    fn the_fixture_runs_reports_a_crash_comes_back_and_stops_as_removed() {
        let dir = tempfile::tempdir().unwrap();
        let w = Workload {
            deployment: "d".into(),
            component: ComponentPlan {
                name: "hello".into(),
                kind: ProfileType::Process,
                repository: Some("./components/hello.sh".into()),
                revision: Some("1.0.0".into()),
                wait: true,
                timeout: None,
                settings: [("GREETING".to_owned(), serde_json::Value::from("hi plant 1"))].into(),
                limits: edge_model::profile::Limits::default(),
                artifact: None,
            },
            artifact: fixture(),
            origin: String::new(),
            dir: dir.path().join("hello"),
            env: Vec::new(),
            restart: RestartPolicy {
                interval: Duration::from_millis(50),
                limit: 3,
                stable_after: Duration::from_secs(30),
            },
        };
        let d = ProcessDriver::default();
        assert!(d.unavailable().is_none());
        let r = d.start(&w).unwrap();
        until(r.as_ref(), "installed", |o| o.state == State::Installed);
        let log = w.dir.join("output.log");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("hi plant 1")
        {
            assert!(Instant::now() < deadline, "no greeting in the log");
            std::thread::park_timeout(Duration::from_millis(20));
        }
        // A crash (killed from outside): restarted, and installed again.
        assert_eq!(r.observe().restarts, 0);
        let status = std::process::Command::new("pkill")
            .args(["-KILL", "-f", &w.dir.join("program").display().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let back = until(r.as_ref(), "back after a crash", |o| {
            o.restarts == 1 && o.state == State::Installed
        });
        assert!(back.error.is_none());
        // Stopped only once the new shell greets: before, it has not set up
        // its SIGTERM handler yet and would die without saying so.
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("hi plant 1")
            .count()
            < 2
        {
            assert!(Instant::now() < deadline, "no second greeting in the log");
            std::thread::park_timeout(Duration::from_millis(20));
        }
        let end = r.stop(Duration::from_secs(10));
        assert_eq!((end.state, end.error), (State::Removed, None));
        assert!(
            std::fs::read_to_string(&log)
                .unwrap()
                .contains("got SIGTERM")
        );
    }

    #[test]
    fn a_missing_artifact_is_an_artifact_error() {
        let dir = tempfile::tempdir().unwrap();
        let w = Workload {
            deployment: "d".into(),
            component: ComponentPlan {
                name: "x".into(),
                kind: ProfileType::Process,
                repository: None,
                revision: None,
                wait: true,
                timeout: None,
                settings: Default::default(),
                limits: edge_model::profile::Limits::default(),
                artifact: None,
            },
            artifact: dir.path().join("nothing"),
            origin: String::new(),
            dir: dir.path().join("x"),
            env: Vec::new(),
            restart: RestartPolicy::default(),
        };
        let e = ProcessDriver::default().start(&w).err().unwrap();
        assert_eq!(e.code, FailureCode::Artifact);
        assert!(e.message.contains("nothing"), "{e}");
    }

    #[test]
    fn a_program_runs_as_the_configured_account() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = std::fs::metadata(dir.path()).unwrap().uid() == 0;
        let script = dir.path().join("who.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\necho \"uid=$(id -u) user=$USER\"\ntouch mine && echo wrote\nexec sleep 60\n",
        )
        .unwrap();
        let w = Workload {
            deployment: "d".into(),
            component: ComponentPlan {
                name: "who".into(),
                kind: ProfileType::Process,
                repository: None,
                revision: None,
                wait: true,
                timeout: None,
                settings: Default::default(),
                limits: edge_model::profile::Limits::default(),
                artifact: None,
            },
            artifact: script,
            origin: String::new(),
            dir: dir.path().join("who"),
            env: Vec::new(),
            restart: RestartPolicy::default(),
        };
        let d = ProcessDriver::new(
            Account::Named(crate::process::RunAs::lookup("nobody").unwrap()),
            Arc::new(MemoryLedger::default()),
        );
        if !root {
            // Only root may hand a folder to, or run as, another account.
            let e = d.start(&w).err().unwrap();
            assert_eq!(e.code, FailureCode::Start);
            assert!(e.message.contains("nobody"), "{e}");
            return;
        }
        let r = d.start(&w).unwrap();
        let log = w.dir.join("output.log");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("wrote")
        {
            assert!(
                Instant::now() < deadline,
                "{:?}",
                std::fs::read_to_string(&log)
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("uid=65534 user=nobody"), "{text}");
        let mine = w.dir.join(crate::control::WORK).join("mine");
        assert_eq!(std::fs::metadata(mine).unwrap().uid(), 65534);
        r.stop(Duration::from_secs(5));
    }

    #[test]
    fn a_folder_the_account_cannot_pass_is_named_before_anything_starts() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let u = crate::process::RunAs::anonymous(60_999);
        let e = reachable(&dir.path().join("w").join("d").join("c"), &u).unwrap_err();
        assert_eq!(e.code, FailureCode::Start);
        assert!(
            e.message.contains(&dir.path().display().to_string())
                && e.message.contains("edged-60999"),
            "{e}"
        );
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        assert!(reachable(&dir.path().join("c"), &u).is_ok());
    }

    #[test]
    fn a_crash_loop_reads_as_failed_with_the_reason() {
        let s = crate::process::Status {
            phase: Phase::Failed,
            pid: None,
            restarts: 5,
            last_error: Some("exited with status 3".into()),
        };
        let down = observed(&crate::process::Status {
            phase: Phase::BackingOff,
            restarts: 1,
            ..s.clone()
        });
        assert_eq!(
            (down.state, down.error.map(|e| e.code)),
            (State::Failed, Some(FailureCode::Exited)),
            "down between restarts reads as failed"
        );
        let o = observed(&s);
        assert_eq!(o.state, State::Failed);
        assert_eq!(
            o.error,
            Some(ComponentError::new(
                FailureCode::GaveUp,
                "exited with status 3; gave up after 5 restarts"
            ))
        );
    }

    #[test]
    fn a_workload_folder_that_cannot_be_made_is_a_start_failure_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let w = Workload {
            deployment: "d".into(),
            component: ComponentPlan {
                name: "hello".into(),
                kind: ProfileType::Process,
                repository: None,
                revision: None,
                wait: false,
                timeout: None,
                settings: Default::default(),
                limits: edge_model::profile::Limits::default(),
                artifact: None,
            },
            artifact: fixture(),
            origin: String::new(),
            dir: file.join("under-a-file"),
            env: Vec::new(),
            restart: RestartPolicy::default(),
        };
        let e = w.make_dir().unwrap_err();
        assert_eq!(e.code, FailureCode::Start);
        assert!(e.message.contains("under-a-file"), "{e}");
        let e = ProcessDriver::default().start(&w).err().unwrap();
        assert_eq!(e.code, FailureCode::Start, "{e}");
    }
}
