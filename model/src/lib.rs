//! The Margo vocabulary shared by every part of edgectl and edged.
//!
//! Margo documents come in two directions. Desired state flows down:
//! [`ApplicationDescription`] (the `margo.yaml` of an application package),
//! [`ApplicationDeployment`] (one application on one device) and the
//! [`DesiredStateManifest`] a device polls. Observed state flows up:
//! [`DeploymentStatusManifest`] and [`DeviceCapabilitiesManifest`]. Errors on
//! the wire are [`ProblemDetail`]s.
//!
//! Every document enters through one pipeline ([`MargoDocument::from_slice`],
//! or [`check_document`] when the kind is unknown): bounded loading of
//! untrusted bytes ([`load`]), validation that lists every problem with its
//! field path ([`Report`]), tolerant reading of every Margo era, and conversion
//! to the rc.3 form. [`digest`] holds the `sha256:` helpers and the canonical
//! JSON of served manifests.
//!
//! This crate does no I/O: no files, no network, no clock, no async. Anything
//! that needs those belongs in the crates that use it.

pub mod app;
pub mod artifact;
pub mod capabilities;
mod check;
pub mod deployment;
pub mod digest;
pub mod document;
pub mod id;
pub mod issue;
pub mod load;
pub mod manifest;
pub mod placement;
pub mod problem;
pub mod profile;
pub mod render;
pub mod schema;
pub mod status;
pub mod suggest;

pub use app::ApplicationDescription;
pub use artifact::ArtifactRef;
pub use capabilities::DeviceCapabilitiesManifest;
pub use deployment::ApplicationDeployment;
pub use document::{
    Checked, Document, DocumentError, DocumentKind, MargoDocument, Outcome, check_document,
};
pub use id::{AppId, ComponentName, DeploymentId, DeviceId, DeviceTarget, Digest};
pub use issue::{Issue, Report, Rule};
pub use manifest::DesiredStateManifest;
pub use problem::ProblemDetail;
pub use profile::ProfileType;
pub use status::{DeploymentStatusManifest, State};
