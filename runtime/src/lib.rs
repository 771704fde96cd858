//! Turns desired state into running workloads on an edge node.
//!
//! This crate will hold the small `Runtime` driver trait, the pure planner
//! (desired vs observed → ordered steps) and the drivers for `wasm`, `process`,
//! `compose`, `container` and `helm` workloads. It depends only on `edge-model`.
//! It must never talk to the network about desired state, never touch Git and
//! never decide placement: it is handed a deployment and reports what it observed.
