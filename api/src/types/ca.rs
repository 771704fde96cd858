//! The bodies of the CO's CA and its rotation (`GET /api/ca`,
//! `POST /api/ca/{step}`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The CO's trust anchors: what its trust bundle holds and the state of each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaInfo {
    /// The trust domain.
    pub trust_domain: String,
    /// The bundle's `spiffe_sequence`, one more with every step.
    pub sequence: u64,
    /// The bundle's `spiffe_refresh_hint`: how soon LOs and nodes take a change.
    pub refresh_seconds: u64,
    /// The anchors: the active one first.
    pub anchors: Vec<CaAnchor>,
    /// Generations a `retire` step dropped from the bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<u32>,
}

/// One CA generation in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaAnchor {
    /// 1 for the first CA, one more for each staged since.
    pub generation: u32,
    /// `active` (signs), `staged` (trusted, signs after `activate`) or
    /// `retired` (trusted until the identities it issued are gone).
    pub state: String,
    /// `sha256:` and the SHA-256 of the certificate (`--trust-bundle-pin`).
    pub pin: String,
    /// When the CA certificate expires (RFC 3339).
    pub not_after: String,
    /// When it was staged, made active or retired (RFC 3339); absent for a
    /// first CA made before rotation existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// `POST /api/ca/{step}`: options of a rotation step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaStep {
    /// `activate` within the refresh hint of staging, or `retire` while
    /// identities a retired CA issued are still valid.
    #[serde(default)]
    pub force: bool,
}
