//! Stopping on SIGTERM or SIGINT: one switch for the whole process, so every
//! part of `--mode all` stops on the same signal.
//!
//! The first signal turns the switch: each listener stops accepting and
//! lets the requests in flight finish (`http::serve`, at most its
//! `DRAIN_TIMEOUT`, 10 s), and whatever holds an answer open —
//! the CO's event stream, the Margo manifest long poll, an LO's watch of
//! the CO — ends it at once ([`requested`]), so the drain takes no longer
//! than the slowest ordinary request. A second signal while stopping ends
//! the process at once, saying so ([`forced`]: `run` stops waiting for the
//! mode and returns). The handlers are installed before the daemon serves
//! ([`install`]), so a signal never meets the default action.

use std::sync::LazyLock;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// How many termination signals came: 1 asks for a stop, 2 forces it.
static SIGNALS: LazyLock<watch::Sender<u8>> = LazyLock::new(|| watch::Sender::new(0));

/// Install the handlers of SIGTERM and SIGINT. Call once, inside the
/// runtime, before anything serves.
///
/// # Errors
/// When a handler cannot be installed.
pub(crate) fn install() -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                Some(()) = term.recv() => "SIGTERM",
                Some(()) = int.recv() => "SIGINT",
                else => return,
            };
            let before = SIGNALS.send_replace(1);
            if before == 0 {
                tracing::info!(
                    signal = name,
                    "termination signal: draining requests (a second Ctrl-C or SIGTERM exits at once)"
                );
            } else {
                tracing::warn!(
                    signal = name,
                    "a second termination signal: exiting at once, without waiting for requests in flight"
                );
                SIGNALS.send_replace(2);
                return;
            }
        }
    });
    Ok(())
}

/// Wait until a stop is asked for (at once when it already was).
pub(crate) async fn requested() {
    at_least(1).await;
}

/// Wait until a second signal forces the stop.
pub(crate) async fn forced() {
    at_least(2).await;
}

async fn at_least(n: u8) {
    let mut rx = SIGNALS.subscribe();
    // The sender lives for the whole process: this only ends when reached.
    let _ = rx.wait_for(|seen| *seen >= n).await;
}

/// Whether a stop has been asked for.
pub(crate) fn is_requested() -> bool {
    *SIGNALS.borrow() >= 1
}
