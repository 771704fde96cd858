//! The public Margo conformance corpus (`../shared/margo-spec/examples`, read
//! in place): every valid document must pass, every invalid one must fail and
//! name the offending field, and every valid one must survive conversion to
//! the rc.3 form and back.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use edge_model::{
    ApplicationDeployment, ApplicationDescription, DeploymentStatusManifest, DesiredStateManifest,
    DeviceCapabilitiesManifest, Document, MargoDocument, ProblemDetail, check_document,
};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/margo-spec/examples")
}

fn documents(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The field each invalid corpus document breaks.
const INVALID: [(&str, &str); 17] = [
    (
        "ApplicationDeployment-003.yaml",
        "metadata.annotations.applicationId",
    ),
    ("ApplicationDescription-001.yaml", "kind"),
    ("DeploymentStatusManifest-001.json", "kind"),
    ("DeploymentStatusManifest-002.json", "status.state"),
    ("DeploymentStatusManifest-003.json", "deploymentId"),
    ("DesiredStateManifest-001.json", "manifestVersion"),
    ("DesiredStateManifest-002.json", "bundle.mediaType"),
    ("DesiredStateManifest-003.json", "bundle.digest"),
    ("DesiredStateManifest-004.json", "bundle"),
    ("DeviceCapabilitiesManifest-001.json", "properties.roles[0]"),
    ("DeviceCapabilitiesManifest-002.json", "properties.vendor"),
    (
        "DeviceCapabilitiesManifest-003.json",
        "properties.resources.cpu.architectures[0]",
    ),
    ("ProblemDetail-001.yaml", "status"),
    ("gitops-2025-02/DesiredState-001.yaml", "kind"),
    (
        "gitops-2025-02/DesiredState-002.yaml",
        "metadata.annotations.applicationId",
    ),
    (
        "gitops-2025-02/DesiredState-003.yaml",
        "metadata.annotations.applicationId",
    ),
    (
        "gitops-2025-02/DesiredState-004.yaml",
        "metadata.annotations.id",
    ),
];

#[test]
fn every_valid_document_passes() {
    let files = documents(&corpus().join("valid"));
    assert!(files.len() >= 11, "corpus not found or shrunk: {files:?}");
    for f in files {
        let outcome = check_document(&fs::read(&f).unwrap()).unwrap();
        assert!(
            outcome.report.is_valid(),
            "{}: {:#?}",
            f.display(),
            outcome.report.errors
        );
        assert!(outcome.document.is_some(), "{}", f.display());
    }
}

#[test]
fn every_invalid_document_fails_naming_the_field() {
    let root = corpus().join("invalid");
    let files = documents(&root);
    assert_eq!(
        files.len(),
        INVALID.len(),
        "a corpus document has no expectation: {files:?}"
    );
    for (name, field) in INVALID {
        let f = root.join(name);
        let outcome = check_document(&fs::read(&f).unwrap()).unwrap();
        assert!(outcome.document.is_none(), "{name} was accepted");
        let paths: Vec<&str> = outcome
            .report
            .errors
            .iter()
            .map(|e| e.path.as_str())
            .collect();
        assert!(
            paths.contains(&field),
            "{name}: expected an error at `{field}`, got {paths:?}"
        );
    }
}

fn round_trip<T: MargoDocument + PartialEq + std::fmt::Debug>(doc: &T, name: &str) {
    let yaml = doc.to_yaml();
    let again = T::from_slice(yaml.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}\n{yaml}"));
    assert_eq!(&again.document, doc, "{name} changed through YAML");
    let json = serde_json::to_vec(doc).unwrap();
    let again = T::from_slice(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(&again.document, doc, "{name} changed through JSON");
}

#[test]
fn valid_documents_round_trip_in_rc3_form() {
    for f in documents(&corpus().join("valid")) {
        let name = f.display().to_string();
        let outcome = check_document(&fs::read(&f).unwrap()).unwrap();
        match outcome.document.unwrap() {
            Document::ApplicationDescription(d) => round_trip::<ApplicationDescription>(&d, &name),
            Document::ApplicationDeployment(d) => round_trip::<ApplicationDeployment>(&d, &name),
            Document::DesiredStateManifest(d) => round_trip::<DesiredStateManifest>(&d, &name),
            Document::DeploymentStatusManifest(d) => {
                round_trip::<DeploymentStatusManifest>(&d, &name);
            }
            Document::DeviceCapabilitiesManifest(d) => {
                round_trip::<DeviceCapabilitiesManifest>(&d, &name);
            }
            Document::ProblemDetail(d) => round_trip::<ProblemDetail>(&d, &name),
        }
    }
}

#[test]
fn older_forms_are_emitted_in_rc3_form() {
    let root = corpus().join("valid");
    let app = fs::read(root.join("gitops-2025-02/ApplicationDescription-002.yaml")).unwrap();
    let app = ApplicationDescription::from_slice(&app).unwrap().document;
    let yaml = app.to_yaml();
    assert!(
        yaml.contains("type: helm\n") && yaml.contains("type: compose\n"),
        "{yaml}"
    );
    assert!(!yaml.contains("helm.v3") && !yaml.contains("docker-compose"));

    let dep = fs::read(root.join("data-model/ApplicationDeployment-helm.yaml")).unwrap();
    let dep = ApplicationDeployment::from_slice(&dep).unwrap().document;
    assert_eq!(dep.id().as_str(), "a3e2f5dc-912e-494f-8395-52cf3769bc06");
    assert_eq!(
        dep.spec.application_id.as_str(),
        "com-northstartida-digitron-orchestrator"
    );

    let gitops = fs::read(root.join("gitops-2025-02/DesiredState-001.yaml")).unwrap();
    let gitops = ApplicationDeployment::from_slice(&gitops).unwrap().document;
    let wait = gitops.spec.deployment_profile.components[0].properties.wait;
    assert_eq!(
        wait,
        Some(true),
        "the string \"true\" of the 2025 draft is a boolean"
    );

    let caps = fs::read(root.join("DeviceCapabilitiesManifest-001.json")).unwrap();
    let caps = DeviceCapabilitiesManifest::from_slice(&caps)
        .unwrap()
        .document;
    let json = serde_json::to_value(&caps).unwrap();
    assert_eq!(json["properties"]["cpus"][0]["architecture"], "amd64");
    assert_eq!(json["properties"]["memory"], "59Gi");
    assert!(json.get("apiVersion").is_none() && json["properties"].get("roles").is_none());

    let status = fs::read(root.join("DeploymentStatusManifest-001.json")).unwrap();
    let status = DeploymentStatusManifest::from_slice(&status)
        .unwrap()
        .document;
    assert_eq!(
        status.kind.as_deref(),
        Some("DeploymentStatusManifest"),
        "no adoptedManifestVersion: stays in its draft form"
    );
    let rc3 =
        br#"{"deploymentId": "a3e2f5dc-912e-494f-8395-52cf3769bc06", "adoptedManifestVersion": 3,
        "apiVersion": "v1", "kind": "DeploymentStatusManifest",
        "status": {"state": "installing"}, "components": [{"name": "a", "state": "installing"}]}"#;
    let status = DeploymentStatusManifest::from_slice(rc3).unwrap().document;
    assert!(serde_json::to_value(&status).unwrap().get("kind").is_none());
}
