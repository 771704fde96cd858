//! A real terminal for tests of interactive commands: a private tmux server
//! (its own socket in a temporary folder) running one command in an 80x24
//! window. Tests send keys and read the screen back; nothing waits by
//! sleeping: [`Tmux::wait_for`] polls the screen until a deadline. Dropping
//! the handle kills the server and whatever still runs in it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::wait::{EVERY, within};

/// A tmux server with one window.
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Run `command` (a shell command line) in `cwd` with `env` added, in a
    /// `width` x `height` window. When it ends, its exit status is written to
    /// `DIR/exit-status` (`DIR` being the socket's folder) and the window
    /// stays open until [`Tmux::exit_status`] is read.
    ///
    /// # Panics
    /// When tmux cannot start.
    #[must_use]
    pub fn start(
        dir: &Path,
        cwd: &Path,
        env: &[(&str, &str)],
        command: &str,
        size: (u16, u16),
    ) -> Tmux {
        // A socket of its own per server: a server just killed at the same
        // path may still be exiting, and a new client reaching it fails with
        // "server exited unexpectedly".
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = dir.join(format!("tmux-{n}.sock"));
        let status = dir.join("exit-status");
        let _ = std::fs::remove_file(&status);
        let mut line = String::new();
        for (k, v) in env {
            line.push_str(&format!("{k}={} ", quote(v)));
        }
        line.push_str(&format!(
            "sh -c {}; echo $? > {}; sleep 3600",
            quote(command),
            quote(&status.to_string_lossy())
        ));
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(["-f", "/dev/null", "new-session", "-d", "-x"])
            .arg(size.0.to_string())
            .arg("-y")
            .arg(size.1.to_string())
            .arg("-c")
            .arg(cwd)
            .arg(format!("env TERM=xterm-256color {line}"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux: {e}"));
        assert!(
            out.status.success(),
            "tmux did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmux { socket }
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux: {e}"))
    }

    /// The screen as text, one line per row.
    #[must_use]
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p"]).stdout).into_owned()
    }

    /// Send keys (tmux key names such as `Enter`, `Down`, `q`).
    pub fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend(keys);
        let out = self.tmux(&args);
        assert!(out.status.success(), "send-keys failed");
    }

    /// Wait (up to `secs`) until the screen shows every one of `texts`;
    /// returns the screen.
    ///
    /// # Panics
    /// When it does not, with the last screen.
    pub fn wait_for(&self, texts: &[&str], secs: u64) -> String {
        self.wait_until(|screen| texts.iter().all(|t| screen.contains(t)), secs)
    }

    /// Wait (up to `secs`) until `test` holds for the screen; returns it.
    ///
    /// # Panics
    /// When it does not, with the last screen.
    pub fn wait_until(&self, test: impl Fn(&str) -> bool, secs: u64) -> String {
        let limit = Duration::from_secs(secs);
        within(limit, EVERY, || Some(self.screen()).filter(|s| test(s)))
            .unwrap_or_else(|| panic!("the screen never changed as awaited:\n{}", self.screen()))
    }

    /// Wait (up to `secs`) for the command to end; its exit status.
    ///
    /// # Panics
    /// When it does not end in time.
    #[must_use]
    pub fn exit_status(&self, secs: u64) -> i32 {
        let file = self.socket.with_file_name("exit-status");
        within(Duration::from_secs(secs), EVERY, || {
            std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("the command did not end:\n{}", self.screen()))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// `text` as one single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
