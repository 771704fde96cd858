//! The test kit of the cross-binary scenarios (`tests/it/`) and the
//! benchmark binary: daemons started on `127.0.0.1` port 0 (`co`, `lo`, `en`),
//! an `edgectl` runner that captures output, a Git smart-HTTP server
//! (`git_http`), Debian's docker-registry (`registry`), podman set up for
//! tests (`podman`), a loopback TCP proxy that counts bytes and fails on
//! demand (`proxy`), a small tmpfs to fill (`tmpfs`), a terminal to drive
//! the TUI in (`tmux`), a ready-made fleet with the Margo checks a device
//! can make (`fleet`), an LO cut off from the CO by a failing link with
//! nothing lost (`outage`), an independent Margo fleet manager in Python
//! (`wfm`), an OTLP receiving end that decodes what arrives (`otlp`),
//! and waiting with a deadline (`wait`), and forged
//! sticks and certificates for the attack suite (`forge`). It is a
//! dev-only crate: nothing ships from here, and it must never reach beyond
//! loopback.

pub mod co;
pub mod en;
#[allow(clippy::unwrap_used)] // scenario set-up: a failure is the test's failure
pub mod fleet;
#[allow(clippy::unwrap_used)] // attack set-up: a failure is the test's failure
pub mod forge;
pub mod git_http;
pub mod lo;
pub mod otlp;
#[allow(clippy::unwrap_used)] // scenario: a failure is the test's failure
pub mod outage;
pub mod podman;
pub mod prometheus;
pub mod proxy;
pub mod registry;
#[allow(clippy::unwrap_used)] // simulated nodes: a failure is the run's failure
pub mod sim;
pub mod tmpfs;
pub mod tmux;
pub mod wait;
pub mod wfm;
