//! Containers through podman, for the `compose` and `container` drivers:
//! the podman command line (with the node's `CONTAINERS_CONF`, which on
//! some hosts must name `runc` and explicit ulimits, and an environment of
//! its own: podman-compose substitutes `${VAR}` from its environment into
//! containers, so the daemon's is never passed on), the containers of a
//! workload by label, images taken in from an archive (`podman image
//! exists` and `podman load`, each given a deadline after which podman is
//! killed: the edge node calls them on its reconcile thread), and the
//! supervising thread both drivers share.
//!
//! Supervision is by polling `podman ps` (each poll costs podman ~40 ms of
//! CPU): every second while a workload starts, every ten once it runs. A
//! container that exits is a crash: `failed` with its exit status, brought
//! up again per the restart policy. One that exits non-zero before all of
//! its workload ever ran is a failed start (Margo's compose `wait` rule):
//! reported at once, not retried.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use edge_model::status::State;

use crate::driver::{Observed, Running};
use crate::failure::{ComponentError, FailureCode};
use crate::process::RestartPolicy;

/// The podman command line of this node.
#[derive(Debug, Clone, Default)]
pub struct Podman {
    /// `CONTAINERS_CONF` for every podman call, when set.
    pub conf: Option<PathBuf>,
    /// Registries pulled from without TLS (`host:port`).
    pub insecure: Vec<String>,
}

/// The daemon's variables podman and podman-compose are given: where the
/// tools are, the account's folders (rootless podman keeps its state
/// there), and the `containers-*` configuration the node was started with.
/// Nothing else: no secret of the daemon's reaches a container.
pub const PODMAN_ENV: [&str; 8] = [
    "PATH",
    "HOME",
    "XDG_RUNTIME_DIR",
    "TMPDIR",
    "CONTAINERS_CONF",
    "CONTAINERS_REGISTRIES_CONF",
    "CONTAINERS_STORAGE_CONF",
    "REGISTRY_AUTH_FILE",
];

/// One container as `podman ps` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctr {
    /// Name.
    pub name: String,
    /// `running`, `exited`, `created`, …
    pub state: String,
    /// Exit status (meaningful once exited).
    pub exit: i64,
}

pub use crate::host::on_path;

impl Podman {
    /// A command of the podman family (`podman`, `podman-compose`), with
    /// only the daemon's variables podman needs ([`PODMAN_ENV`]).
    #[must_use]
    pub fn cmd(&self, program: &str) -> Command {
        self.cmd_from(program, |k| std::env::var_os(k))
    }

    /// [`Podman::cmd`] taking the daemon's variables from `daemon`.
    fn cmd_from(
        &self,
        program: &str,
        daemon: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Command {
        let mut c = Command::new(program);
        c.env_clear();
        for k in PODMAN_ENV {
            if let Some(v) = daemon(k) {
                c.env(k, v);
            }
        }
        if c.get_envs().all(|(k, _)| k != "PATH") {
            c.env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            );
        }
        if let Some(conf) = &self.conf {
            c.env("CONTAINERS_CONF", conf);
        }
        c.stdin(Stdio::null());
        c
    }

    /// Run `cmd` to its end, its output appended to `log`; the error holds
    /// the end of what it printed.
    ///
    /// # Errors
    /// When it cannot start or exits non-zero.
    pub fn run(&self, mut cmd: Command, log: &Path) -> Result<(), PodmanError> {
        let shown = format!("{:?}", cmd.get_program());
        let out = cmd.output().map_err(|error| PodmanError::Spawn {
            program: shown.clone(),
            error,
        })?;
        if let Ok(mut f) = crate::control::append_log(log) {
            use std::io::Write as _;
            let _ = f.write_all(&out.stdout);
            let _ = f.write_all(&out.stderr);
        }
        if out.status.success() {
            return Ok(());
        }
        Err(PodmanError::Failed {
            program: shown,
            status: out.status,
            said: tail(&out.stderr),
        })
    }

    /// The containers carrying `label` (`key=value`).
    ///
    /// # Errors
    /// When podman cannot be asked or answers nonsense.
    pub fn containers(&self, label: &str) -> Result<Vec<Ctr>, PodmanError> {
        let out = self
            .cmd("podman")
            .args(["ps", "-a", "--format", "json", "--filter"])
            .arg(format!("label={label}"))
            .output()
            .map_err(|error| PodmanError::Spawn {
                program: "podman".to_owned(),
                error,
            })?;
        if !out.status.success() {
            return Err(PodmanError::Ps(
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            ));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(PodmanError::NotJson)?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .map(|c| Ctr {
                        name: c["Names"][0].as_str().unwrap_or_default().to_owned(),
                        state: c["State"].as_str().unwrap_or_default().to_owned(),
                        exit: c["ExitCode"].as_i64().unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Whether podman holds the image `reference`, asked for at most
    /// [`IMAGE_EXISTS_FOR`].
    ///
    /// # Errors
    /// When podman cannot be run or does not answer in time (it is killed).
    pub fn image_exists(&self, reference: &str) -> Result<bool, PodmanError> {
        let mut cmd = self.cmd("podman");
        cmd.args(["image", "exists", reference]);
        let out = output_within(cmd, IMAGE_EXISTS_FOR)?;
        Ok(out.status.success())
    }

    /// Take in the OCI image archive `archive` (`oci-archive`, its one
    /// image named `reference` in its index), so `podman run reference`
    /// and podman-compose find it without a registry; podman is given
    /// [`LOAD_FOR`].
    ///
    /// # Errors
    /// The end of what podman said when it refused, when it did not finish
    /// in time (it is killed), or when the image is not there under
    /// `reference` afterwards.
    pub fn load_archive(&self, archive: &Path, reference: &str) -> Result<(), PodmanError> {
        let mut cmd = self.cmd("podman");
        cmd.args(["load", "-q", "-i"]).arg(archive);
        let out = output_within(cmd, LOAD_FOR)?;
        if !out.status.success() {
            return Err(PodmanError::Load(tail(&out.stderr)));
        }
        if !self.image_exists(reference)? {
            return Err(PodmanError::LoadedAs {
                reference: reference.to_owned(),
                said: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            });
        }
        Ok(())
    }

    /// Remove every container carrying `label`, whatever its state.
    pub fn remove_all(&self, label: &str) {
        if let Ok(cs) = self.containers(label) {
            for c in cs {
                let _ = self
                    .cmd("podman")
                    .args(["rm", "-f", "-t", "5", &c.name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// Why a podman call failed.
#[derive(Debug, thiserror::Error)]
pub enum PodmanError {
    /// The program could not be started.
    #[error("cannot run {program}")]
    Spawn {
        /// The program, quoted.
        program: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// It exited non-zero.
    #[error("{program} failed ({status}): {said}")]
    Failed {
        /// The program, quoted.
        program: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// The end of what it printed on standard error.
        said: String,
    },
    /// `podman ps` exited non-zero.
    #[error("podman ps failed: {0}")]
    Ps(String),
    /// `podman ps` printed something else than JSON.
    #[error("podman ps sent something else than JSON")]
    NotJson(#[source] serde_json::Error),
    /// A bounded call did not finish in time and was killed.
    #[error("{program} did not finish within {} s and was stopped", .limit.as_secs())]
    Deadline {
        /// The program, quoted.
        program: String,
        /// What it was given.
        limit: Duration,
    },
    /// It could not be waited for (it was killed).
    #[error("cannot wait for {program}")]
    Wait {
        /// The program, quoted.
        program: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// `podman load` refused the archive.
    #[error("podman cannot take the image in: {0}")]
    Load(String),
    /// `podman load` took the archive in under another name.
    #[error("podman took the image in, but not as `{reference}`: {said}")]
    LoadedAs {
        /// The name asked for.
        reference: String,
        /// What podman printed.
        said: String,
    },
}

/// The last three non-empty lines of what a program printed, joined.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

/// How long `podman image exists` may take.
pub const IMAGE_EXISTS_FOR: Duration = Duration::from_secs(30);
/// How long `podman load` of one image may take.
pub const LOAD_FOR: Duration = Duration::from_secs(600);
/// Most bytes kept of what a bounded podman call prints on each stream.
const MAX_OUTPUT: u64 = 1 << 20;

/// Run `cmd` to its end, at most `limit`: what it printed (each stream
/// bounded by [`MAX_OUTPUT`]) and how it ended.
///
/// # Errors
/// When it cannot start, or is still running after `limit`: it is then
/// killed and waited for.
fn output_within(mut cmd: Command, limit: Duration) -> Result<std::process::Output, PodmanError> {
    use std::io::Read as _;
    let shown = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| PodmanError::Spawn {
            program: shown.clone(),
            error,
        })?;
    // Drained on their own threads, so a chatty child never blocks on a
    // full pipe while it is waited for.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = (&mut pipe).take(MAX_OUTPUT).read_to_end(&mut kept);
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            }
            kept
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PodmanError::Deadline {
                    program: shown,
                    limit,
                });
            }
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PodmanError::Wait {
                    program: shown,
                    error,
                });
            }
        }
    };
    Ok(std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// How one workload's containers are brought up and taken down.
pub(crate) trait Lifecycle: Send + Sync + 'static {
    /// Create or start them; returns when podman has.
    fn up(&self) -> Result<(), PodmanError>;
    /// Stop and remove them, `grace` before a kill.
    fn down(&self, grace: Duration);
    /// The label (`key=value`) every one of them carries.
    fn label(&self) -> &str;
}

struct Shared {
    observed: Mutex<(Observed, bool)>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn set(&self, f: impl FnOnce(&mut Observed)) {
        f(&mut self
            .observed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0);
        self.changed.notify_all();
    }

    /// Wait up to `d`; `true` when asked to stop.
    fn pause(&self, d: Duration) -> bool {
        let guard = self.observed.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .changed
            .wait_timeout_while(guard, d, |_| !self.stop.load(Ordering::Relaxed))
            .unwrap_or_else(PoisonError::into_inner);
        self.stop.load(Ordering::Relaxed)
    }
}

/// Containers under supervision.
pub(crate) struct Supervised {
    shared: Arc<Shared>,
}

fn failed(o: &mut Observed, code: FailureCode, message: String) {
    o.state = State::Failed;
    o.error = Some(ComponentError::new(code, message));
}

/// Why the watch of a running workload ended.
enum Ended {
    Stop,
    Crashed(String),
    StartFailed(String),
}

fn watch(l: &dyn Lifecycle, podman: &Podman, s: &Shared) -> Ended {
    let mut ran = false;
    loop {
        match podman.containers(l.label()) {
            Ok(cs) if !cs.is_empty() && cs.iter().all(|c| c.state == "running") => {
                ran = true;
                s.set(|o| {
                    o.state = State::Installed;
                    o.error = None;
                });
            }
            Ok(cs) => {
                let down = cs
                    .iter()
                    .find(|c| matches!(c.state.as_str(), "exited" | "stopped" | "dead"));
                match (down, ran) {
                    (Some(c), false) if c.exit != 0 => {
                        return Ended::StartFailed(format!(
                            "container `{}` exited with status {} while starting",
                            c.name, c.exit
                        ));
                    }
                    (Some(c), _) => {
                        return Ended::Crashed(format!(
                            "container `{}` exited with status {}",
                            c.name, c.exit
                        ));
                    }
                    (None, true) if cs.is_empty() => {
                        return Ended::Crashed("its containers are gone".to_owned());
                    }
                    _ => {}
                }
            }
            // podman itself failing says nothing about the containers.
            Err(_) => {}
        }
        let every = if ran {
            Duration::from_secs(10)
        } else {
            Duration::from_secs(1)
        };
        if s.pause(every) {
            return Ended::Stop;
        }
    }
}

/// Bring `l` up and keep it up per `restart`, until stopped.
pub(crate) fn supervise(
    l: Arc<dyn Lifecycle>,
    podman: Podman,
    restart: RestartPolicy,
    name: &str,
) -> std::io::Result<Supervised> {
    let shared = Arc::new(Shared {
        observed: Mutex::new((
            Observed {
                state: State::Installing,
                error: None,
                restarts: 0,
            },
            false,
        )),
        changed: Condvar::new(),
        stop: AtomicBool::new(false),
    });
    let s = shared.clone();
    std::thread::Builder::new()
        .name(format!("ctr-{name}"))
        .spawn(move || {
            let mut in_a_row = 0;
            loop {
                let started = Instant::now();
                let ended = match l.up() {
                    Ok(()) => watch(l.as_ref(), &podman, &s),
                    Err(e) => Ended::Crashed(crate::failure::sentence(&e)),
                };
                let why = match ended {
                    Ended::Stop => break,
                    Ended::StartFailed(why) => {
                        s.set(|o| failed(o, FailureCode::StartFailed, why));
                        while !s.pause(Duration::from_secs(3600)) {}
                        break;
                    }
                    Ended::Crashed(why) => why,
                };
                if s.stop.load(Ordering::Relaxed) {
                    break;
                }
                if !restart.again(&mut in_a_row, started.elapsed()) {
                    let restarts = s
                        .observed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                        .restarts;
                    s.set(|o| {
                        failed(
                            o,
                            FailureCode::GaveUp,
                            format!("{why}; gave up after {restarts} restarts"),
                        );
                    });
                    while !s.pause(Duration::from_secs(3600)) {}
                    break;
                }
                s.set(|o| {
                    failed(o, FailureCode::Exited, format!("{why}; restarting"));
                    o.restarts += 1;
                });
                if s.pause(restart.interval) {
                    break;
                }
            }
            l.down(Duration::from_secs(10));
            s.observed.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
            s.changed.notify_all();
        })?;
    Ok(Supervised { shared })
}

impl Running for Supervised {
    fn observe(&self) -> Observed {
        self.shared
            .observed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    fn stop(self: Box<Self>, grace: Duration) -> Observed {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.changed.notify_all();
        // `down` may have to wait for an `up` (an image pull) to finish.
        let guard = self
            .shared
            .observed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .shared
            .changed
            .wait_timeout_while(guard, grace + Duration::from_secs(60), |(_, done)| !*done)
            .unwrap_or_else(PoisonError::into_inner);
        Observed {
            state: State::Removed,
            error: None,
            restarts: guard.0.restarts,
        }
    }
}

/// A name podman accepts, from a deployment id and a component name.
#[must_use]
pub fn workload_name(deployment: &str, component: &str) -> String {
    let short: String = deployment
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    let comp: String = component
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("edged-{short}-{comp}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_call_is_stopped_at_its_deadline() {
        let mut slow = Command::new("sleep");
        slow.arg("30");
        let started = Instant::now();
        let e = output_within(slow, Duration::from_millis(200))
            .unwrap_err()
            .to_string();
        assert!(e.contains("did not finish") && e.contains("stopped"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let mut quick = Command::new("sh");
        quick.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = output_within(quick, Duration::from_secs(10)).unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn podman_is_given_none_of_the_daemon_s_variables_but_what_it_needs() {
        let daemon = |k: &str| match k {
            "EDGE_SECRET" => Some("hunter2".into()),
            "HOME" => Some("/root".into()),
            _ => None,
        };
        let podman = Podman {
            conf: Some("/etc/c.conf".into()),
            insecure: Vec::new(),
        };
        let out = podman.cmd_from("env", daemon).output().unwrap();
        let env = String::from_utf8_lossy(&out.stdout);
        assert!(!env.contains("hunter2"), "{env}");
        assert!(env.contains("HOME=/root\n"), "{env}");
        assert!(env.contains("CONTAINERS_CONF=/etc/c.conf\n"), "{env}");
        assert!(env.contains("PATH=/"), "a default PATH: {env}");
    }

    #[test]
    fn workload_names_are_podman_names() {
        assert_eq!(
            super::workload_name("0eccca02-b226-4581", "Web_API"),
            "edged-0eccca02-web-api"
        );
    }
}
