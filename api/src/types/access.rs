//! The bodies of the north API's access control: token scopes, tokens
//! made and listed, and the audit log.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a north API token may do. Each scope includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every read: lists, details, status, events, history, metrics.
    Read,
    /// Reads, and changing what runs: deploy, undeploy, roll back, label,
    /// export a site to a stick and take its status back.
    Deploy,
    /// Everything: the app store, sites and devices, identities, tokens and
    /// the audit log.
    Admin,
}

impl Scope {
    /// The scope's name on the wire and the command line.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Deploy => "deploy",
            Self::Admin => "admin",
        }
    }
}

/// `POST /api/tokens`: create a named token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateToken {
    /// A unique name (letters, digits, `.`, `_`, `-`; at most 63).
    pub name: String,
    /// What the token may do.
    pub scope: Scope,
}

/// A token as listed: never its secret (only a hash of it is kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenInfo {
    /// The token's name.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// Who made it (a token name).
    pub created_by: String,
    /// When it was revoked; absent while it is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// The answer to `POST /api/tokens`: the secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedToken {
    /// The token as stored.
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The bearer token itself; the CO keeps only its hash.
    pub token: String,
}

/// One entry of the audit log: a change asked of the north API, or a
/// refused request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditEntry {
    /// Position in the log (grows by one per entry).
    pub seq: u64,
    /// When (RFC 3339).
    pub at: String,
    /// Who: the token's name, `admin.token`, or `-` when no valid token was given.
    pub actor: String,
    /// The method and path asked for.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The peer's address.
    pub peer: String,
}
