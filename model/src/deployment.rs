//! `ApplicationDeployment`: the desired state of one application on one
//! device, as the CO commits it to a site repository and the LO serves it.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::check::{
    Obj, keys, open_keys, opt, opt_obj, opt_str, pattern, req_obj, req_text, string,
};
use crate::document::{DocumentKind, MargoDocument};
use crate::id::{APP_ID, AppId, DeploymentId, DeviceTarget, UUID};
use crate::issue::{Report, Rule, field};
use crate::profile::{
    Component, DeviceConstraints, Extensions, Parameter, ProfileType, check_components,
    check_constraints, check_parameters, check_type, normalize_profile,
};

/// The `apiVersion` we emit.
pub const DEPLOYMENT_API_VERSION: &str = "application.margo.org/v1alpha1";

/// An application deployment (rc.3 form, keeping the annotations of earlier
/// drafts so that every era's reader finds its fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationDeployment {
    /// Schema version.
    pub api_version: String,
    /// Always `ApplicationDeployment`.
    pub kind: String,
    /// Identity and placement.
    pub metadata: DeploymentMetadata,
    /// What to deploy.
    pub spec: DeploymentSpec,
}

/// `metadata` of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentMetadata {
    /// Deployment id and application id.
    pub annotations: Annotations,
    /// Manifest name chosen by the fleet manager.
    pub name: String,
    /// Namespace chosen by the fleet manager.
    pub namespace: String,
    /// The device, or `gateway/*` (absent in drafts before rc.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceTarget>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `metadata.annotations` of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotations {
    /// The deployment id (a UUID).
    pub id: DeploymentId,
    /// The application id.
    pub application_id: AppId,
    /// Other annotations, kept as they are.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `spec` of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// The application id.
    pub application_id: AppId,
    /// The chosen profile.
    pub deployment_profile: DeploymentProfileSpec,
    /// Parameter values and targets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Parameter>,
    /// Specification extensions.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// The profile inside a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentProfileSpec {
    /// How to deploy.
    #[serde(rename = "type")]
    pub profile_type: ProfileType,
    /// Components in install order.
    pub components: Vec<Component>,
    /// What a device must offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_constraints: Option<DeviceConstraints>,
    /// Specification extensions.
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl ApplicationDeployment {
    /// The deployment id.
    #[must_use]
    pub fn id(&self) -> &DeploymentId {
        &self.metadata.annotations.id
    }
}

const APP_ID_RULE: &str = "use 1 to 200 lower-case letters, digits and dashes";

impl MargoDocument for ApplicationDeployment {
    const KIND: DocumentKind = DocumentKind::ApplicationDeployment;

    fn check(r: &mut Report, m: &Obj) {
        // The top level and `metadata` are open in rc.3 (`spec`, the profile and
        // its components are not): another fleet manager's members are ignored.
        open_keys(r, m, "", &["apiVersion", "kind", "id", "metadata", "spec"]);
        if opt(m, "apiVersion").is_none() && opt(m, "kind").is_none() {
            // rc.3's `appDeploymentManifest` names neither.
            r.note(
                "apiVersion",
                Rule::Era,
                "no `apiVersion` or `kind`, as in rc.3's appDeploymentManifest; read as an ApplicationDeployment",
            );
        } else {
            req_text(r, m, "", "apiVersion");
            crate::check::kind(r, m, &["ApplicationDeployment"], true);
        }
        let top_id = opt_str(r, m, "", "id");
        if let Some(id) = top_id {
            pattern(r, id, "id", &UUID, DeploymentId::RULE);
            r.note("id", Rule::Era, "a top-level `id` is from an older Margo draft; it becomes `metadata.annotations.id`");
        }
        let mut app_ids = Vec::new();
        if let Some(meta) = req_obj(r, m, "", "metadata") {
            req_text(r, meta, "metadata", "name");
            req_text(r, meta, "metadata", "namespace");
            match opt_str(r, meta, "metadata", "deviceId") {
                Some(d) => {
                    crate::check::valid_id(r, d, "metadata.deviceId", DeviceTarget::is_valid(d), DeviceTarget::RULE);
                }
                None => r.note("metadata.deviceId", Rule::Era, "Margo rc.3 names the target device in `metadata.deviceId`; this deployment has none"),
            }
            if let Some(labels) = opt_obj(r, meta, "metadata", "labels") {
                for (k, v) in labels {
                    string(r, v, &field("metadata.labels", k));
                }
            }
            let ann = opt_obj(r, meta, "metadata", "annotations");
            let ann_id = ann.and_then(|a| opt_str(r, a, "metadata.annotations", "id"));
            match (ann_id, top_id) {
                (Some(id), top) => {
                    pattern(r, id, "metadata.annotations.id", &UUID, DeploymentId::RULE);
                    if top.is_some_and(|t| t != id) {
                        r.error(
                            "id",
                            Rule::Reference,
                            "top-level `id` differs from `metadata.annotations.id`",
                        );
                    }
                }
                (None, Some(_)) => {}
                (None, None) => r.error(
                    "metadata.annotations.id",
                    Rule::Required,
                    "`id` (the deployment UUID) is required",
                ),
            }
            if let Some(a) =
                ann.and_then(|a| opt_str(r, a, "metadata.annotations", "applicationId"))
            {
                app_ids.push(("metadata.annotations.applicationId", a));
            }
        }
        let Some(spec) = req_obj(r, m, "", "spec") else {
            return;
        };
        keys(
            r,
            spec,
            "spec",
            &["applicationId", "deploymentProfile", "parameters"],
        );
        if let Some(a) = opt_str(r, spec, "spec", "applicationId") {
            app_ids.push(("spec.applicationId", a));
        }
        if app_ids.is_empty() {
            r.error("spec.applicationId", Rule::Required, "`applicationId` is required (in `spec`, or in `metadata.annotations` in older drafts)");
        }
        for (at, id) in &app_ids {
            pattern(r, id, at, &APP_ID, APP_ID_RULE);
        }
        if let [(_, a), (at, b)] = app_ids.as_slice()
            && a != b
        {
            r.error(
                *at,
                Rule::Reference,
                "`spec.applicationId` differs from `metadata.annotations.applicationId`",
            );
        }
        let mut names = HashSet::new();
        if let Some(p) = req_obj(r, spec, "spec", "deploymentProfile") {
            let at = "spec.deploymentProfile";
            keys(r, p, at, &["type", "components", "deviceConstraints"]);
            check_type(r, p, at);
            names.extend(check_components(r, p, at).into_iter().map(|(_, n)| n));
            if let Some(dc) = opt_obj(r, p, at, "deviceConstraints") {
                check_constraints(r, dc, &field(at, "deviceConstraints"));
            }
        }
        if let Some(params) = opt(spec, "parameters") {
            check_parameters(r, params, "spec.parameters", &names, true);
        }
    }

    fn normalize(mut m: Map<String, Value>) -> Map<String, Value> {
        if !m.contains_key("apiVersion") && !m.contains_key("kind") {
            m.insert("apiVersion".into(), DEPLOYMENT_API_VERSION.into());
            m.insert("kind".into(), "ApplicationDeployment".into());
        }
        let top_id = m.remove("id");
        let spec_app = m.get("spec").and_then(|s| s.get("applicationId")).cloned();
        let ann_app = m
            .get("metadata")
            .and_then(|s| s.get("annotations"))
            .and_then(|a| a.get("applicationId"))
            .cloned();
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            let ann = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(ann) = ann {
                if let Some(id) = top_id {
                    ann.entry("id").or_insert(id);
                }
                if let Some(app) = spec_app.clone() {
                    ann.entry("applicationId").or_insert(app);
                }
            }
        }
        if let Some(Value::Object(spec)) = m.get_mut("spec") {
            if let Some(app) = ann_app {
                spec.entry("applicationId").or_insert(app);
            }
            if let Some(Value::Object(p)) = spec.get_mut("deploymentProfile") {
                normalize_profile(p);
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";

    fn deployment(top: &str, metadata: &str, spec: &str) -> String {
        format!(
            "apiVersion: application.margo.org/v1alpha1\nkind: ApplicationDeployment\n{top}\
             metadata:\n  name: hello\n  namespace: acme\n  deviceId: edge-1\n{metadata}\
             \x20 annotations:\n    id: {ID}\n    applicationId: hello\n\
             spec:\n  applicationId: hello\n{spec}\
             \x20 deploymentProfile:\n    type: compose\n    components:\n      - name: web\n        properties:\n          repository: oci://registry.example.com/web\n          revision: 1.0.0\n"
        )
    }

    #[test]
    fn members_another_fleet_manager_adds_at_the_top_and_in_metadata_are_ignored() {
        let text = deployment(
            "generation: 7\nx-acme-extensions:\n  rollout: canary\n",
            "  uid: 1234\n  creationTimestamp: '2026-01-01T00:00:00Z'\n",
            "  x-acme-extensions:\n    owner: ops\n",
        );
        let checked = ApplicationDeployment::from_slice(text.as_bytes()).unwrap();
        assert_eq!(checked.document.id().as_str(), ID);
        assert!(
            checked
                .notes
                .iter()
                .any(|n| n.rule == Rule::UnknownField && n.path == "generation"),
            "{:?}",
            checked.notes
        );
        assert!(
            checked
                .document
                .spec
                .extensions
                .contains_key("x-acme-extensions")
        );
    }

    #[test]
    fn a_deployment_in_rc3_s_appdeploymentmanifest_form_has_no_header() {
        let text = deployment("", "", "");
        let bare = text
            .replace("apiVersion: application.margo.org/v1alpha1\n", "")
            .replace("kind: ApplicationDeployment\n", "");
        let checked = ApplicationDeployment::from_slice(bare.as_bytes()).unwrap();
        assert_eq!(checked.document.kind, "ApplicationDeployment");
        assert_eq!(checked.document.api_version, DEPLOYMENT_API_VERSION);
        assert!(
            checked
                .notes
                .iter()
                .any(|n| n.rule == Rule::Era && n.path == "apiVersion")
        );
        // One without the other is still refused, as is another kind.
        let half = text.replace("kind: ApplicationDeployment\n", "");
        assert!(ApplicationDeployment::from_slice(half.as_bytes()).is_err());
        let other = text.replace("kind: ApplicationDeployment", "kind: Deployment");
        assert!(ApplicationDeployment::from_slice(other.as_bytes()).is_err());
    }

    #[test]
    fn spec_and_profile_stay_closed_as_rc3_says() {
        // `spec` and the profile are `additionalProperties: false` in rc.3:
        // only extensions may be added there.
        let text = deployment("", "", "  replicas: 2\n");
        let e = ApplicationDeployment::from_slice(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("spec.replicas"), "{e}");
    }
}
