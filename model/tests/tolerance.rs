//! What the model reads tolerantly from older eras and other vendors'
//! clients (README "Compatibility"), each with what it is read as, and what
//! stays refused: a tolerance is a reading the spec's grammar allows, never
//! a guess.

#![allow(clippy::unwrap_used)]

use edge_model::{DeploymentStatusManifest, DeviceCapabilitiesManifest, MargoDocument};

const STATUS_2025: &[u8] = br#"{"deploymentId": "a3e2f5dc-912e-494f-8395-52cf3769bc06",
    "status": {"state": "installed"}, "components": [{"name": "a", "state": "installed"}]}"#;

#[test]
fn a_status_report_of_a_client_before_rc3_is_read_untied_to_a_manifest_version() {
    let read = DeploymentStatusManifest::from_slice(STATUS_2025).unwrap();
    assert_eq!(read.document.adopted_manifest_version, None);
    let note = read
        .notes
        .iter()
        .find(|i| i.path == "adoptedManifestVersion")
        .unwrap();
    assert!(note.message.contains("before rc.3"), "{}", note.message);
    // A malformed version is still refused, not passed over.
    let bad = String::from_utf8_lossy(STATUS_2025)
        .replace("\"status\"", "\"adoptedManifestVersion\": 0, \"status\"");
    assert!(DeploymentStatusManifest::from_slice(bad.as_bytes()).is_err());
}

fn caps(memory: &str, storage: &str) -> Vec<u8> {
    format!(
        r#"{{"properties": {{"id": "d1", "vendor": "v", "modelNumber": "m", "serialNumber": "s",
        "cpus": [{{"cores": 2, "architecture": "arm64"}}], "memory": "{memory}", "storage": "{storage}",
        "otelCollector": true, "supportedRuntimes": ["oci"], "supportedDeploymentTypes": ["compose"]}}}}"#
    )
    .into_bytes()
}

#[test]
fn a_quantity_with_blanks_between_number_and_unit_is_read_without_them() {
    let read = DeviceCapabilitiesManifest::from_slice(&caps("59 Gi", " 128Gi ")).unwrap();
    let json = serde_json::to_value(&read.document).unwrap();
    assert_eq!(json["properties"]["memory"], "59Gi");
    assert_eq!(json["properties"]["storage"], "128Gi");
    assert!(read.notes.iter().any(|i| i.path == "properties.memory"));
    // Nothing else is guessed: other units, case and inner blanks stay errors.
    for memory in ["59 GB", "59 gi", "5 9Gi", "Gi 59", "59.5Gi"] {
        assert!(
            DeviceCapabilitiesManifest::from_slice(&caps(memory, "1Ti")).is_err(),
            "{memory}"
        );
    }
}
