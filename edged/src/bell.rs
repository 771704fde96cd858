//! Small thread plumbing shared by the modes: a [`Bell`] one thread rings to
//! end another's timed wait, and [`spawn`] for named worker threads.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use anyhow::Context as _;

/// A wake-up call between threads: `ring` ends the current (or next) `wait`.
#[derive(Default)]
pub(crate) struct Bell {
    rung: Mutex<bool>,
    cv: Condvar,
}

impl Bell {
    pub(crate) fn ring(&self) {
        *self
            .rung
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.cv.notify_all();
    }

    /// Wait up to `d`, or until rung.
    pub(crate) fn wait(&self, d: Duration) {
        let guard = self
            .rung
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (mut guard, _) = self
            .cv
            .wait_timeout_while(guard, d, |rung| !*rung)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = false;
    }
}

/// Start a named thread.
pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .with_context(|| format!("cannot start the {name} thread"))?;
    Ok(())
}
