//! What the Margo API of this process served, for `/metrics`: manifests
//! answered with a body or `304`, long polls held now, status reports taken.
//! One set per process (an LO's, or a CO's to directly attached nodes).

use crate::prom::{Counter, InFlight};

/// Manifests answered `200`.
pub(crate) static MANIFESTS: Counter = Counter::new();
/// Manifests answered `304`.
pub(crate) static NOT_MODIFIED: Counter = Counter::new();
/// Manifest long polls waiting now.
pub(crate) static HELD: InFlight = InFlight::new();
/// Status reports taken.
pub(crate) static REPORTS: Counter = Counter::new();
