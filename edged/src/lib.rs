//! The `edged` daemon: one binary whose `--mode co|lo|en|all` decides which
//! components run.
//!
//! The Central Orchestrator keeps the app store, the device registry and the
//! desired state (every change a Git commit); a Local Orchestrator mirrors its
//! site's repository and serves the Margo Workload Management API to edge nodes;
//! an Edge Node fetches artifacts, runs workloads and reports true status. This
//! crate joins `edge-model`, `edge-workspace`, `edge-runtime` and `edge-api`; it is
//! the only crate that links the HTTP server. It must never print to stdout other
//! than its one readiness line, and never keep state outside its data directory.
