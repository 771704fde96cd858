//! Turns desired state into running workloads on an edge node.
//!
//! `plan` is the pure reconcile planner (desired vs applied → ordered steps);
//! `process` supervises a native process (restart policy, graceful stop);
//! `host` says what this host offers, as a Margo capabilities report;
//! `failure` is the closed set of failure codes a status report carries;
//! `driver` is the small trait every workload type goes through, with the
//! `process` driver; `wasm` runs WASI modules in an embedded wasmtime;
//! `compose` (podman-compose) and `container` (podman) share `podman`, the
//! podman command line and container supervision; `control` keeps a
//! workload's control files (log, program copy) out of its reach and
//! `ledger` remembers its process and account outside it. The
//! crate depends only on `edge-model`: it never talks to the network about
//! desired state, never touches Git and never decides placement; it is handed
//! verified deployments and reports what it observed.

pub mod compose;
pub mod container;
pub mod control;
pub mod driver;
pub mod failure;
pub mod host;
pub mod ledger;
pub mod plan;
pub mod podman;
pub mod process;
pub mod wasm;

pub use failure::{ComponentError, FailureCode};
pub use plan::{Applied, ComponentPlan, Desired, Step, plan};
