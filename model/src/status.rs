//! `DeploymentStatusManifest`: what a device reports about one deployment,
//! overall and per component.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::check::{
    Obj, keys, obj, opt, opt_obj, opt_str, pattern, req, req_list, req_obj, req_str, string,
};
use crate::document::{DocumentKind, MargoDocument};
use crate::id::{DeploymentId, DeviceId, UUID};
use crate::issue::{Report, Rule, field, index};

/// Deployment and component states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum State {
    Pending,
    Installing,
    Installed,
    Failed,
    Removing,
    Removed,
}

const STATES: [&str; 6] = [
    "pending",
    "installing",
    "installed",
    "failed",
    "removing",
    "removed",
];

impl State {
    /// Severity for the overall state: failed > removing > installing >
    /// pending > installed > removed (DIGEST §6).
    #[must_use]
    pub fn severity(self) -> u8 {
        match self {
            Self::Failed => 5,
            Self::Removing => 4,
            Self::Installing => 3,
            Self::Pending => 2,
            Self::Installed => 1,
            Self::Removed => 0,
        }
    }

    /// The overall state of a set of component states: the most severe one;
    /// `removed` only when all are removed. `None` for no components.
    pub fn overall(states: impl IntoIterator<Item = State>) -> Option<State> {
        states.into_iter().max_by_key(|s| s.severity())
    }

    /// The lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        STATES[self as usize]
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error attached to a state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct StatusError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The overall status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct OverallStatus {
    pub state: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StatusError>,
}

/// The status of one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ComponentStatus {
    pub name: String,
    pub state: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StatusError>,
}

/// The status report of one deployment (rc.3 form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatusManifest {
    /// Schema version of drafts before rc.3; kept only while
    /// `adoptedManifestVersion` is missing, since then the report cannot be
    /// expressed in the rc.3 form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Document kind of drafts before rc.3; kept as `api_version` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The deployment.
    pub deployment_id: DeploymentId,
    /// The child device reporting, below a gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    /// The manifest version the device acted on (required since rc.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted_manifest_version: Option<u64>,
    /// Overall status.
    pub status: OverallStatus,
    /// One entry per component.
    pub components: Vec<ComponentStatus>,
}

fn check_state(r: &mut Report, m: &Obj, at: &str) {
    if let Some(s) = req_str(r, m, at, "state") {
        crate::check::one_of(r, s, &field(at, "state"), &STATES);
    }
    if let Some(e) = opt_obj(r, m, at, "error") {
        let eat = field(at, "error");
        keys(r, e, &eat, &["code", "source", "message"]);
        for k in ["code", "source", "message"] {
            opt_str(r, e, &eat, k);
        }
    }
}

impl MargoDocument for DeploymentStatusManifest {
    const KIND: DocumentKind = DocumentKind::DeploymentStatusManifest;

    fn check(r: &mut Report, m: &Obj) {
        keys(
            r,
            m,
            "",
            &[
                "apiVersion",
                "kind",
                "deploymentId",
                "deviceId",
                "adoptedManifestVersion",
                "status",
                "components",
            ],
        );
        let old =
            crate::check::draft_header(r, m, &["DeploymentStatusManifest", "DeploymentStatus"]);
        if let Some(id) = req_str(r, m, "", "deploymentId") {
            pattern(r, id, "deploymentId", &UUID, DeploymentId::RULE);
        }
        if let Some(d) = opt_str(r, m, "", "deviceId") {
            crate::check::valid_id(r, d, "deviceId", DeviceId::is_valid(d), DeviceId::RULE);
        }
        match opt(m, "adoptedManifestVersion") {
            Some(v) if v.as_u64().is_none_or(|n| n < 1) => {
                r.error(
                    "adoptedManifestVersion",
                    Rule::Range,
                    format!("must be a whole number from 1 to 2^64-1, found {v}"),
                );
            }
            // The 2025 REST drafts had neither the header nor the field:
            // such a report is read, not tied to a manifest version.
            None if !old => r.note(
                "adoptedManifestVersion",
                Rule::Era,
                "is missing, as in reports of clients before rc.3: the report is taken without being tied to a manifest version",
            ),
            _ => {}
        }
        if let Some(s) = req_obj(r, m, "", "status") {
            keys(r, s, "status", &["state", "error"]);
            check_state(r, s, "status");
        }
        let mut names = Vec::new();
        for (i, c) in req_list(r, m, "", "components")
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = index("components", i);
            let Some(c) = obj(r, c, &at) else { continue };
            keys(r, c, &at, &["name", "state", "error"]);
            if let Some(n) = req(r, c, &at, "name").and_then(|v| string(r, v, &field(&at, "name")))
            {
                names.push((i, n));
            }
            check_state(r, c, &at);
        }
        crate::check::unique(r, names, "components", "name", "component");
    }

    fn normalize(mut m: Map<String, Value>) -> Map<String, Value> {
        if m.contains_key("adoptedManifestVersion") {
            m.remove("apiVersion");
            m.remove("kind");
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_state_by_severity() {
        use State::*;
        assert_eq!(State::overall([Installed, Failed, Pending]), Some(Failed));
        assert_eq!(State::overall([Installed, Installing]), Some(Installing));
        assert_eq!(State::overall([Removed, Installed]), Some(Installed));
        assert_eq!(State::overall([Removed, Removed]), Some(Removed));
        assert_eq!(State::overall([Pending, Removing]), Some(Removing));
        assert_eq!(State::overall([]), None);
        assert_eq!(Installing.as_str(), "installing");
    }
}
