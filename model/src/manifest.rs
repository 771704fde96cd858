//! The desired state manifest a device polls (`GET /api/v1/deployments`):
//! a version, an optional bundle of every deployment, and one content-addressed
//! reference per deployment. rc.3 leaves its objects open, so members it
//! does not name are ignored (with a note); what we serve has none.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::check::{Obj, list, obj, open_keys, opt_number, req, req_str, shorten};
use crate::document::{DocumentKind, MargoDocument};
use crate::id::{DIGEST, DeploymentId, Digest, URL_PATH, UUID};
use crate::issue::{Report, Rule, field, index};

/// Media type of the manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.margo.manifest.v1+json";
/// Media type of the bundle.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.margo.bundle.v1+tar+gzip";

/// The desired state manifest (`UnsignedAppStateManifest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredStateManifest {
    /// Strictly increasing per device, starting at 1.
    pub manifest_version: u64,
    /// All deployments in one archive; `null` when there are none.
    pub bundle: Option<BundleRef>,
    /// One reference per deployment.
    pub deployments: Vec<DeploymentRef>,
}

/// The bundle reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleRef {
    /// Always [`BUNDLE_MEDIA_TYPE`].
    pub media_type: String,
    /// Digest of the archive bytes.
    pub digest: Digest,
    /// Advisory size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// `/api/v1/bundles/{digest}`.
    pub url: String,
}

/// A reference to one deployment YAML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRef {
    /// Equals `metadata.annotations.id` of the YAML.
    pub deployment_id: DeploymentId,
    /// Digest of the YAML bytes.
    pub digest: Digest,
    /// Advisory size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// `/api/v1/deployments/{id}/{digest}`.
    pub url: String,
}

impl DesiredStateManifest {
    /// The manifest as served: canonical JSON bytes (see [`crate::digest`]).
    #[must_use]
    pub fn to_canonical_json(&self) -> Vec<u8> {
        crate::digest::canonical_json(self)
    }
}

fn digest_field(r: &mut Report, m: &Obj, at: &str) -> Option<String> {
    let d = req_str(r, m, at, "digest")?;
    if !DIGEST.is_match(d) {
        r.error(
            field(at, "digest"),
            Rule::Pattern,
            format!("`{}` is not valid: {}", shorten(d), Digest::RULE),
        );
        return None;
    }
    Some(d.to_owned())
}

fn size_field(r: &mut Report, m: &Obj, at: &str) {
    if let Some(n) = opt_number(r, m, at, "sizeBytes")
        && (n < 0.0 || n.fract() != 0.0)
    {
        r.error(
            field(at, "sizeBytes"),
            Rule::Range,
            "`sizeBytes` must be a whole number of 0 or more",
        );
    }
}

fn url_field(r: &mut Report, m: &Obj, at: &str, digest: Option<&str>) {
    let Some(url) = req_str(r, m, at, "url") else {
        return;
    };
    let uat = field(at, "url");
    if !URL_PATH.is_match(url) {
        r.error(
            uat,
            Rule::Pattern,
            format!("`{}` must be a path such as `/api/v1/…`", shorten(url)),
        );
    } else if let Some(d) = digest.filter(|d| !url.ends_with(d)) {
        r.error(
            uat,
            Rule::Reference,
            format!("the URL must end with the digest `{d}`"),
        );
    }
}

impl MargoDocument for DesiredStateManifest {
    const KIND: DocumentKind = DocumentKind::DesiredStateManifest;

    fn check(r: &mut Report, m: &Obj) {
        // rc.3 leaves the manifest and its references open: members it does not
        // name (another fleet manager's) are ignored, never refused.
        open_keys(r, m, "", &["manifestVersion", "bundle", "deployments"]);
        if let Some(v) = req(r, m, "", "manifestVersion")
            && v.as_u64().is_none_or(|n| n < 1)
        {
            r.error(
                "manifestVersion",
                Rule::Range,
                format!("must be a whole number from 1 to 2^64-1, found {v}"),
            );
        }
        let deployments = req(r, m, "", "deployments").and_then(|d| list(r, d, "deployments"));
        let count = deployments.map_or(0, Vec::len);
        let mut ids = Vec::new();
        for (i, d) in deployments.into_iter().flatten().enumerate() {
            let at = index("deployments", i);
            let Some(d) = obj(r, d, &at) else { continue };
            open_keys(r, d, &at, &["deploymentId", "digest", "sizeBytes", "url"]);
            if let Some(id) = req_str(r, d, &at, "deploymentId") {
                if UUID.is_match(id) {
                    ids.push((i, id));
                } else {
                    r.error(
                        field(&at, "deploymentId"),
                        Rule::Pattern,
                        format!("`{}` is not valid: {}", shorten(id), DeploymentId::RULE),
                    );
                }
            }
            let digest = digest_field(r, d, &at);
            size_field(r, d, &at);
            url_field(r, d, &at, digest.as_deref());
        }
        crate::check::unique(r, ids, "deployments", "deploymentId", "deployment");
        match m.get("bundle") {
            None => r.error(
                "bundle",
                Rule::Required,
                "`bundle` must be present (null when there are no deployments)",
            ),
            Some(Value::Null) => {
                if count > 0 {
                    r.error(
                        "bundle",
                        Rule::Required,
                        "`bundle` must not be null when there are deployments",
                    );
                }
            }
            Some(b) => {
                let Some(b) = obj(r, b, "bundle") else { return };
                if count == 0 && deployments.is_some() {
                    r.error("bundle", Rule::Range, "`bundle` must be null when there are no deployments (an empty archive must not be served)");
                }
                open_keys(r, b, "bundle", &["mediaType", "digest", "sizeBytes", "url"]);
                if let Some(mt) = req_str(r, b, "bundle", "mediaType")
                    && mt != BUNDLE_MEDIA_TYPE
                {
                    r.error(
                        "bundle.mediaType",
                        Rule::Enum,
                        format!("`{}` must be `{BUNDLE_MEDIA_TYPE}`", shorten(mt)),
                    );
                }
                let digest = digest_field(r, b, "bundle");
                size_field(r, b, "bundle");
                url_field(r, b, "bundle", digest.as_deref());
            }
        }
    }

    fn normalize(m: Map<String, Value>) -> Map<String, Value> {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::Rule;

    const D: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const ID: &str = "0b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";

    fn manifest(extra: &str, in_ref: &str, in_bundle: &str) -> String {
        format!(
            r#"{{"manifestVersion": 4 {extra},
            "bundle": {{"mediaType": "{BUNDLE_MEDIA_TYPE}", "digest": "{D}", "url": "/api/v1/bundles/{D}" {in_bundle}}},
            "deployments": [{{"deploymentId": "{ID}", "digest": "{D}", "url": "/api/v1/deployments/{ID}/{D}" {in_ref}}}]}}"#
        )
    }

    #[test]
    fn members_another_fleet_manager_adds_are_ignored_with_a_note() {
        let text = manifest(
            r#", "generatedBy": "acme-wfm", "x-acme-extensions": {"region": "eu"}"#,
            r#", "priority": 3, "x-acme-extensions": {"tier": 1}"#,
            r#", "compression": "gzip""#,
        );
        let checked = DesiredStateManifest::from_slice(text.as_bytes()).unwrap();
        let m = &checked.document;
        assert_eq!(m.manifest_version, 4);
        assert_eq!(m.deployments[0].deployment_id.as_str(), ID);
        let noted: Vec<_> = checked
            .notes
            .iter()
            .filter(|n| n.rule == Rule::UnknownField)
            .map(|n| n.path.as_str())
            .collect();
        assert_eq!(
            noted,
            [
                "generatedBy",
                "deployments[0].priority",
                "bundle.compression"
            ]
        );
        // What we serve stays the rc.3 form: the foreign members are not kept.
        let served = String::from_utf8(m.to_canonical_json()).unwrap();
        for gone in ["generatedBy", "priority", "compression", "x-acme"] {
            assert!(!served.contains(gone), "{served}");
        }
    }

    #[test]
    fn a_malformed_extension_or_a_broken_known_member_is_still_refused() {
        let bad_extension = manifest(r#", "x-acme-extensions": "eu""#, "", "");
        let e = DesiredStateManifest::from_slice(bad_extension.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("x-acme-extensions"), "{e}");
        let bad_known = manifest(r#", "unknown": 1"#, "", "")
            .replace("\"manifestVersion\": 4", "\"manifestVersion\": 0");
        let e = DesiredStateManifest::from_slice(bad_known.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("manifestVersion"), "{e}");
    }
}
