//! Our extension, `x-edgectl-extensions`: the one place its JSON is read
//! and written.
//!
//! On a component it holds two things. `limits` are what a WebAssembly
//! component asks for (memory and fuel, written by the package author and
//! checked on load). `artifact` is written by the fleet manager at deploy
//! time: the digest, size and media type of a package-local artifact it
//! stored, so edge nodes fetch exactly those bytes by digest. Everything
//! else reads and writes them through [`Component::artifact`],
//! [`Component::set_artifact`] and [`Component::limits`].
//!
//! On a capabilities report it holds `deploymentTypes`: our own deployment
//! types (`wasm`, `process`, `container`), which rc.3's
//! `supportedDeploymentTypes` cannot name; the report lists `custom` there
//! instead ([`DeviceCapabilitiesManifest::set_deployment_types`]). Fleet
//! managers read both through [`DeviceCapabilitiesManifest::deployment_types`]
//! or, from a raw report, [`deployment_types`], which also read a report of
//! an earlier release that listed our types directly.
//!
//! A fleet manager that serves its package-local artifacts from an OCI
//! registry names them there ([`name_in_registry`]): the component's
//! `repository` becomes a standard `oci://` reference and the artifact
//! keeps its digest (and its file name as `title`), so our nodes still
//! verify by digest and any other client pulls the reference as it is.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Digest;
use crate::capabilities::DeviceCapabilitiesManifest;
use crate::profile::{Component, ProfileType};

/// The component extension key edgectl reads and writes.
pub const EDGECTL_EXTENSION: &str = "x-edgectl-extensions";
/// The key of the artifact reference inside the extension.
const ARTIFACT: &str = "artifact";
/// The key of an artifact's file name inside its reference, written when
/// the artifact is named in a registry.
const TITLE: &str = "title";
/// The key of the limits inside the extension.
const LIMITS: &str = "limits";
/// The key of our deployment types inside a capabilities report's extension.
pub(crate) const DEPLOYMENT_TYPES: &str = "deploymentTypes";
/// The rc.3 deployment type that stands for ours.
const CUSTOM: &str = "custom";

/// The largest artifact any tier stores (CO, LO, edge node, a stick).
pub const MAX_ARTIFACT: u64 = 512 * 1024 * 1024;
/// Media type of a single-file artifact.
pub const FILE_TYPE: &str = "application/vnd.edgectl.file.v1";
/// Media type of a compose archive (Margo).
pub const COMPOSE_TYPE: &str = "application/vnd.margo.compose.v1+tar+gzip";

/// Smallest memory cap a WebAssembly component may ask for: one page.
pub const MIN_WASM_MEMORY: u64 = 64 * 1024;
/// Largest: all a 32-bit module can address.
pub const MAX_WASM_MEMORY: u64 = 4 * 1024 * 1024 * 1024;

/// A package-local artifact the fleet manager stored, named by digest
/// (`x-edgectl-extensions.artifact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRef {
    /// `sha256:` of the bytes.
    pub digest: Digest,
    /// Their length.
    pub size: u64,
    /// [`FILE_TYPE`] or [`COMPOSE_TYPE`].
    #[serde(default)]
    pub media_type: String,
}

impl ArtifactRef {
    /// A compose archive rather than a single file.
    #[must_use]
    pub fn is_compose(&self) -> bool {
        self.media_type == COMPOSE_TYPE
    }
}

/// Limits a component asks for in `x-edgectl-extensions.limits`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Cap on a WebAssembly module's memory, in bytes.
    pub memory_bytes: Option<u64>,
    /// wasmtime fuel one run of a module may consume.
    pub fuel: Option<u64>,
}

impl Component {
    fn edgectl_extension(&self, key: &str) -> Option<&Value> {
        self.extensions.get(EDGECTL_EXTENSION)?.get(key)
    }

    /// The limits this component asks for (checked on load).
    #[must_use]
    pub fn limits(&self) -> Limits {
        let l = self.edgectl_extension(LIMITS);
        let get = |k: &str| l.and_then(|l| l.get(k)).and_then(Value::as_u64);
        Limits {
            memory_bytes: get("memoryBytes"),
            fuel: get("fuel"),
        }
    }

    /// The package-local artifact the fleet manager named for this
    /// component; `None` when it names none (or not a well-formed one).
    #[must_use]
    pub fn artifact(&self) -> Option<ArtifactRef> {
        serde_json::from_value(self.edgectl_extension(ARTIFACT)?.clone()).ok()
    }

    /// The file name of this component's package-local artifact, once its
    /// `repository` names it in a registry ([`name_in_registry`]).
    #[must_use]
    pub fn artifact_title(&self) -> Option<&str> {
        self.edgectl_extension(ARTIFACT)?.get(TITLE)?.as_str()
    }

    /// Name `artifact` as this component's, beside what else the extension
    /// holds (its limits); an earlier reference is replaced.
    pub fn set_artifact(&mut self, artifact: &ArtifactRef) {
        let value = serde_json::json!({
            "digest": artifact.digest.as_str(),
            "size": artifact.size,
            "mediaType": artifact.media_type,
        });
        match self.extensions.get_mut(EDGECTL_EXTENSION) {
            Some(Value::Object(mine)) => {
                mine.insert(ARTIFACT.to_owned(), value);
            }
            _ => {
                self.extensions.insert(
                    EDGECTL_EXTENSION.to_owned(),
                    serde_json::json!({ ARTIFACT: value }),
                );
            }
        }
    }
}

/// Name each package-local artifact of deployment document `doc` (as JSON)
/// in the registry at `host` (`host[:port]`): a component whose
/// `repository` is a package-local path and whose extension names the
/// artifact by digest gets `repository: oci://<host>/<app>/<component>`
/// (its `revision` is the tag, unchanged), and the artifact keeps the file
/// name as `title`. A component is left as written when its revision is
/// missing or not a tag (`tag_ok`), or its repository name is not one
/// (`name_ok`): a reference that a registry cannot answer is not made.
/// Everything else in the document stays as it is. Returns how many
/// components were named.
pub fn name_in_registry(
    doc: &mut Value,
    host: &str,
    name_ok: impl Fn(&str) -> bool,
    tag_ok: impl Fn(&str) -> bool,
) -> usize {
    let Some(app) = doc["metadata"]["annotations"]["applicationId"]
        .as_str()
        .map(str::to_owned)
    else {
        return 0;
    };
    let Some(components) = doc
        .pointer_mut("/spec/deploymentProfile/components")
        .and_then(Value::as_array_mut)
    else {
        return 0;
    };
    let mut named = 0;
    for c in components {
        let Some(component) = c["name"].as_str() else {
            continue;
        };
        let name = format!("{app}/{component}");
        let has_digest = c
            .get(EDGECTL_EXTENSION)
            .and_then(|e| e.get(ARTIFACT))
            .and_then(|a| a.get("digest"))
            .is_some_and(Value::is_string);
        let props = &c["properties"];
        let Some(path) = props["repository"]
            .as_str()
            .filter(|r| crate::profile::is_local_path(r) && !r.contains(':'))
        else {
            continue;
        };
        let title = path.rsplit('/').find(|s| !s.is_empty()).map(str::to_owned);
        let tagged = props["revision"].as_str().is_some_and(&tag_ok);
        if !has_digest || !tagged || !name_ok(&name) {
            continue;
        }
        c["properties"]["repository"] = Value::String(format!("oci://{host}/{name}"));
        if let (Some(t), Some(Value::Object(a))) = (
            title,
            c.get_mut(EDGECTL_EXTENSION)
                .and_then(|e| e.get_mut(ARTIFACT)),
        ) {
            a.insert(TITLE.to_owned(), Value::String(t));
        }
        named += 1;
    }
    named
}

/// The deployment types a device runs, from its `supportedDeploymentTypes`
/// (`reported`) and its extension (`extension`, the value of
/// `x-edgectl-extensions`): `custom` stands for the types the extension
/// names; any other entry is taken as it is (an earlier release listed our
/// types there directly). Names keep their spelling; repeats are dropped.
fn merge_types<'a>(
    reported: impl IntoIterator<Item = &'a str>,
    extension: Option<&'a Value>,
) -> Vec<String> {
    let ours: Vec<&str> = extension
        .and_then(|e| e.get(DEPLOYMENT_TYPES))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut push = |t: &str| {
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    };
    let mut custom_seen = false;
    for t in reported {
        if t == CUSTOM && !ours.is_empty() {
            custom_seen = true;
            ours.iter().for_each(|o| push(o));
        } else {
            push(t);
        }
    }
    if !custom_seen {
        // The extension without `custom` listed: still what the node says
        // it runs.
        ours.iter().for_each(|o| push(o));
    }
    out
}

/// The deployment types a raw capabilities report (as a fleet manager
/// stored it) says its device runs; see
/// [`DeviceCapabilitiesManifest::deployment_types`].
#[must_use]
pub fn deployment_types(report: &Value) -> Vec<String> {
    let reported = report
        .pointer("/properties/supportedDeploymentTypes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    merge_types(reported, report.get(EDGECTL_EXTENSION))
}

impl DeviceCapabilitiesManifest {
    /// The deployment types this device runs: its rc.3
    /// `supportedDeploymentTypes` with `custom` read as the types our
    /// extension names, and our types listed directly (a node of an earlier
    /// release) taken as they are.
    #[must_use]
    pub fn deployment_types(&self) -> Vec<String> {
        merge_types(
            self.properties
                .supported_deployment_types
                .iter()
                .map(String::as_str),
            self.extensions.get(EDGECTL_EXTENSION),
        )
    }

    /// Say that this device runs `types`, in rc.3 words: Margo's types as
    /// they are, ours as `custom` with their names in
    /// `x-edgectl-extensions.deploymentTypes`.
    pub fn set_deployment_types(&mut self, types: &[ProfileType]) {
        let mut listed: Vec<String> = Vec::new();
        let mut ours: Vec<Value> = Vec::new();
        for t in types {
            let name = if t.is_extension() {
                ours.push(Value::from(t.as_str()));
                CUSTOM
            } else {
                t.as_str()
            };
            if !listed.iter().any(|l| l == name) {
                listed.push(name.to_owned());
            }
        }
        self.properties.supported_deployment_types = listed;
        let ext = self.extensions.get_mut(EDGECTL_EXTENSION);
        match (ext, ours.is_empty()) {
            (Some(Value::Object(mine)), false) => {
                mine.insert(DEPLOYMENT_TYPES.to_owned(), Value::Array(ours));
            }
            (Some(Value::Object(mine)), true) => {
                mine.remove(DEPLOYMENT_TYPES);
                if mine.is_empty() {
                    self.extensions.remove(EDGECTL_EXTENSION);
                }
            }
            (_, false) => {
                self.extensions.insert(
                    EDGECTL_EXTENSION.to_owned(),
                    serde_json::json!({ DEPLOYMENT_TYPES: ours }),
                );
            }
            (_, true) => {
                self.extensions.remove(EDGECTL_EXTENSION);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(extension: Option<Value>) -> Component {
        let mut v = serde_json::json!({
            "name": "hello",
            "properties": {"repository": "./components/hello.wasm"},
        });
        if let Some(e) = extension {
            v[EDGECTL_EXTENSION] = e;
        }
        serde_json::from_value(v).unwrap()
    }

    fn reference() -> ArtifactRef {
        ArtifactRef {
            digest: crate::digest::sha256(b"module"),
            size: 6,
            media_type: FILE_TYPE.to_owned(),
        }
    }

    #[test]
    fn package_local_artifacts_are_named_in_a_registry_with_their_digest_kept() {
        let a = reference();
        let mut doc = serde_json::json!({
            "metadata": {"annotations": {"applicationId": "hello-wasm"}},
            "spec": {"deploymentProfile": {"type": "wasm", "components": [
                {"name": "hello", "properties": {"repository": "./components/hello.wat", "revision": "1.0.0"},
                 EDGECTL_EXTENSION: {"artifact": {"digest": a.digest.as_str(), "size": 6, "mediaType": FILE_TYPE}, "limits": {"fuel": 9}}},
                {"name": "plain", "properties": {"repository": "./components/x", "revision": "1.0.0"}},
                {"name": "norev", "properties": {"repository": "./components/y"},
                 EDGECTL_EXTENSION: {"artifact": {"digest": a.digest.as_str(), "size": 6}}},
                {"name": "remote", "properties": {"repository": "oci://reg/x", "revision": "2.0.0"},
                 EDGECTL_EXTENSION: {"artifact": {"digest": a.digest.as_str(), "size": 6}}},
            ]}},
            "future": {"kept": true},
        });
        let before = doc.clone();
        let n = name_in_registry(&mut doc, "lo.example:7443", |_| true, |t| !t.contains('+'));
        assert_eq!(n, 1);
        let c = &doc["spec"]["deploymentProfile"]["components"];
        assert_eq!(
            c[0]["properties"]["repository"],
            "oci://lo.example:7443/hello-wasm/hello"
        );
        assert_eq!(c[0]["properties"]["revision"], "1.0.0");
        let parsed: Component = serde_json::from_value(c[0].clone()).unwrap();
        assert_eq!(parsed.artifact(), Some(a));
        assert_eq!(parsed.artifact_title(), Some("hello.wat"));
        assert_eq!(parsed.limits().fuel, Some(9));
        for i in 1..4 {
            assert_eq!(c[i], before["spec"]["deploymentProfile"]["components"][i]);
        }
        assert_eq!(doc["future"], before["future"]);
        // A name the registry refuses is not made.
        let mut again = before.clone();
        assert_eq!(name_in_registry(&mut again, "h", |_| false, |_| true), 0);
        assert_eq!(again, before);
    }

    #[test]
    fn an_artifact_reference_round_trips_and_keeps_the_limits() {
        let mut c = component(Some(serde_json::json!({"limits": {"fuel": 5}})));
        assert_eq!(c.artifact(), None);
        let a = reference();
        c.set_artifact(&a);
        assert_eq!(c.artifact(), Some(a.clone()));
        assert_eq!(c.limits().fuel, Some(5));
        // The wire form is the one fleet managers and nodes of earlier
        // versions read.
        assert_eq!(
            c.extensions[EDGECTL_EXTENSION]["artifact"],
            serde_json::json!({"digest": a.digest.as_str(), "size": 6, "mediaType": FILE_TYPE})
        );
        let text = serde_json::to_string(&c).unwrap();
        let back: Component = serde_json::from_str(&text).unwrap();
        assert_eq!(back.artifact(), Some(a));
    }

    #[test]
    fn a_component_without_the_extension_gets_one() {
        let mut c = component(None);
        let a = ArtifactRef {
            media_type: COMPOSE_TYPE.to_owned(),
            ..reference()
        };
        c.set_artifact(&a);
        assert!(c.artifact().is_some_and(|r| r.is_compose()));
        assert_eq!(c.limits(), Limits::default());
    }

    fn report(types: Value, extension: Option<Value>) -> Value {
        let mut v = serde_json::json!({"properties": {"id": "edge-1", "vendor": "v",
            "modelNumber": "m", "serialNumber": "s", "otelCollector": false,
            "supportedRuntimes": ["custom"], "supportedDeploymentTypes": types}});
        if let Some(e) = extension {
            v[EDGECTL_EXTENSION] = e;
        }
        v
    }

    #[test]
    fn our_deployment_types_are_written_in_rc3_words_and_read_back() {
        use crate::MargoDocument as _;
        let mut caps =
            DeviceCapabilitiesManifest::from_value(report(serde_json::json!(["compose"]), None))
                .unwrap()
                .document;
        caps.set_deployment_types(&[
            ProfileType::Wasm,
            ProfileType::Process,
            ProfileType::Compose,
            ProfileType::Container,
        ]);
        let wire = serde_json::to_value(&caps).unwrap();
        assert_eq!(
            wire["properties"]["supportedDeploymentTypes"],
            serde_json::json!(["custom", "compose"])
        );
        assert_eq!(
            wire[EDGECTL_EXTENSION],
            serde_json::json!({"deploymentTypes": ["wasm", "process", "container"]})
        );
        // The written report passes the model with no error and only
        // extension notes, and both readers agree.
        let checked = DeviceCapabilitiesManifest::from_value(wire.clone()).unwrap();
        assert!(
            checked
                .notes
                .iter()
                .all(|n| n.rule == crate::Rule::Extension),
            "{:?}",
            checked.notes
        );
        let want = ["wasm", "process", "container", "compose"];
        assert_eq!(checked.document.deployment_types(), want);
        assert_eq!(deployment_types(&wire), want);
        // Margo's types alone leave no extension behind.
        caps.set_deployment_types(&[ProfileType::Compose]);
        assert!(caps.extensions.is_empty());
        assert_eq!(caps.deployment_types(), ["compose"]);
    }

    #[test]
    fn an_earlier_release_s_report_and_a_newer_one_s_are_read() {
        use crate::MargoDocument as _;
        // Our types listed directly: read, with a note naming the era.
        let old = report(serde_json::json!(["wasm", "process"]), None);
        let checked = DeviceCapabilitiesManifest::from_value(old.clone()).unwrap();
        assert!(
            checked
                .notes
                .iter()
                .any(|n| n.rule == crate::Rule::Era && n.message.contains("earlier edgectl")),
            "{:?}",
            checked.notes
        );
        assert_eq!(deployment_types(&old), ["wasm", "process"]);
        // A type or member a newer release adds is ignored, not refused.
        let newer = report(
            serde_json::json!(["custom"]),
            Some(serde_json::json!({"deploymentTypes": ["process", "unikernel"], "gpus": 1})),
        );
        let checked = DeviceCapabilitiesManifest::from_value(newer.clone()).unwrap();
        assert_eq!(
            checked.document.deployment_types(),
            ["process", "unikernel"]
        );
        // A malformed extension is refused.
        let bad = report(
            serde_json::json!(["custom"]),
            Some(serde_json::json!({"deploymentTypes": [3]})),
        );
        assert!(DeviceCapabilitiesManifest::from_value(bad).is_err());
        // Unknown rc.3 types stay refused.
        let bad = report(serde_json::json!(["unikernel"]), None);
        assert!(DeviceCapabilitiesManifest::from_value(bad).is_err());
    }

    #[test]
    fn a_malformed_reference_is_none() {
        for bad in [
            serde_json::json!({"artifact": {"digest": "sha256:nothex", "size": 1}}),
            serde_json::json!({"artifact": {"digest": reference().digest.as_str()}}),
            serde_json::json!({"artifact": "sha256:…"}),
        ] {
            assert_eq!(component(Some(bad)).artifact(), None);
        }
    }
}
