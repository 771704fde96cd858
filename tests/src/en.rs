//! A real `edged --mode en` process, and `edgectl en …` against it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::co::{Daemon, bin};

/// A running edge node.
pub struct En {
    /// The data directory.
    pub data: PathBuf,
    daemon: Option<Daemon>,
}

impl En {
    /// Start `edged --mode en --credentials CREDS --data DATA --server SERVER
    /// --poll-interval 1` with `extra` arguments.
    ///
    /// # Panics
    /// When the daemon does not report ready.
    #[must_use]
    pub fn start(creds: &Path, data: &Path, server: &str, extra: &[&str]) -> En {
        Self::start_with_env(creds, data, server, extra, &[])
    }

    /// [`En::start`] with environment variables (such as `CONTAINERS_CONF`).
    ///
    /// # Panics
    /// When the daemon does not report ready.
    #[must_use]
    pub fn start_with_env(
        creds: &Path,
        data: &Path,
        server: &str,
        extra: &[&str],
        env: &[(&str, &Path)],
    ) -> En {
        let mut args = vec!["--poll-interval", "1"];
        args.extend(extra);
        Self::start_with(creds, data, server, &args, env, &bin("edged"))
    }

    /// `edged --mode en --credentials CREDS --data DATA --server SERVER`
    /// with `extra` arguments and `env`, run from the binary `edged`.
    ///
    /// # Panics
    /// When the daemon does not report ready.
    #[must_use]
    pub fn start_with(
        creds: &Path,
        data: &Path,
        server: &str,
        extra: &[&str],
        env: &[(&str, &Path)],
        edged: &Path,
    ) -> En {
        let_workloads_through(data);
        let mut cmd = Command::new(edged);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(["--mode", "en", "--credentials"])
            .arg(creds)
            .arg("--data")
            .arg(data)
            .args(["--server", server])
            .args(extra);
        let (daemon, _) = Daemon::spawn(cmd, "edged en ");
        En {
            data: data.to_path_buf(),
            daemon: Some(daemon),
        }
    }

    /// `edgectl en ARGS --data DATA`.
    #[must_use]
    pub fn edgectl(&self, args: &[&str]) -> Output {
        Command::new(bin("edgectl"))
            .arg("en")
            .args(args)
            .arg("--data")
            .arg(&self.data)
            .output()
            .unwrap_or_else(|e| panic!("cannot run edgectl: {e}"))
    }

    /// The daemon's process id, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.daemon.as_ref().and_then(Daemon::pid)
    }

    /// What the daemon wrote to stderr so far.
    #[must_use]
    pub fn log(&self) -> String {
        self.daemon.as_ref().map(Daemon::log).unwrap_or_default()
    }

    /// SIGKILL and wait; its workloads' processes stay behind, as they
    /// would on a real host.
    pub fn kill(mut self) {
        if let Some(d) = self.daemon.take() {
            d.kill();
        }
    }
}

/// Stop the daemon with SIGTERM (it stops its workloads), then end any
/// workload process a killed daemon left behind.
impl Drop for En {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.take() {
            let _ = d.stop();
        }
        end_leftovers(&self.data);
    }
}

/// Let other accounts pass through (never list) the folders above `data`
/// (a test's temporary folder is `0700`): run as root, a node runs its
/// native workloads as accounts of their own, which must reach their
/// programs below it.
pub fn let_workloads_through(data: &Path) {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    for dir in data.ancestors().skip(1) {
        if let Ok(m) = std::fs::metadata(dir)
            && m.uid() == 0
            && m.mode() & 0o001 == 0
        {
            let mode = (m.mode() & 0o7777) | 0o011;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode));
        }
    }
}

/// How many processes run a workload program below `data`.
///
/// # Panics
/// When `pgrep` cannot run.
#[must_use]
pub fn programs(data: &Path) -> usize {
    let out = Command::new("pgrep")
        .args(["-f", "-c"])
        .arg(data.join("workloads"))
        .output()
        .unwrap_or_else(|e| panic!("pgrep: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Kill every process started from `data`'s workloads folder.
pub fn end_leftovers(data: &Path) {
    let _ = Command::new("pkill")
        .args(["-KILL", "-f"])
        .arg(data.join("workloads"))
        .status();
}
