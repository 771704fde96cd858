//! Every cross-binary scenario in one test binary (one link of `edged`, not
//! one per file): a module per scenario, each built on the kit in `src/`
//! (`edge_tests`). The daemons, Git server and registry they start listen on
//! loopback only and are ended when a test's handles drop.

#![allow(clippy::unwrap_used)]

mod attach;
mod attack;
mod co;
mod collector;
mod compat;
mod completion;
mod containers;
mod contexts;
mod crash;
mod day2;
mod deploy;
mod en;
mod errors;
mod events;
mod faults;
mod foreign;
mod gateway;
mod git;
mod latency;
mod lifecycle;
mod lists;
mod lo;
mod logs;
mod metrics;
mod nouns;
mod oci;
mod placement;
mod pull;
mod pull_through;
mod readme;
mod registry;
mod remote;
mod rollout;
mod south;
mod stick_images;
mod traces;
mod trust;
mod tui;
mod usb;
mod wait;
mod walkthrough;
