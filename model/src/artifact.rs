//! Our component extension, `x-edgectl-extensions`: the one place its JSON
//! is read and written.
//!
//! It holds two things. `limits` are what a WebAssembly component asks for
//! (memory and fuel, written by the package author and checked on load).
//! `artifact` is written by the fleet manager at deploy time: the digest,
//! size and media type of a package-local artifact it stored, so edge nodes
//! fetch exactly those bytes by digest. Everything else reads and writes
//! them through [`Component::artifact`], [`Component::set_artifact`] and
//! [`Component::limits`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Digest;
use crate::profile::Component;

/// The component extension key edgectl reads and writes.
pub const EDGECTL_EXTENSION: &str = "x-edgectl-extensions";
/// The key of the artifact reference inside the extension.
const ARTIFACT: &str = "artifact";
/// The key of the limits inside the extension.
const LIMITS: &str = "limits";

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
