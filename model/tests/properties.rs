//! Property tests: every document type survives serialize → parse unchanged
//! (YAML and JSON), and no parser panics on arbitrary input.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use edge_model::app::{AppMetadata, Catalog, CatalogApplication, DeploymentProfile, Organization};
use edge_model::capabilities::{Cpu, DeviceProperties, Interface, Peripheral};
use edge_model::deployment::{
    Annotations, DeploymentMetadata, DeploymentProfileSpec, DeploymentSpec,
};
use edge_model::manifest::{BUNDLE_MEDIA_TYPE, BundleRef, DeploymentRef};
use edge_model::problem::FieldError;
use edge_model::profile::{Component, ComponentProperties, Parameter, ParameterTarget};
use edge_model::schema::{Configuration, DataType, SchemaEntry, Section, Setting};
use edge_model::status::{ComponentStatus, OverallStatus, StatusError};
use edge_model::{
    AppId, ApplicationDeployment, ApplicationDescription, ComponentName, DeploymentId,
    DeploymentStatusManifest, DesiredStateManifest, DeviceCapabilitiesManifest, DeviceId,
    MargoDocument, ProblemDetail, ProfileType, State, check_document, digest,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn text() -> impl Strategy<Value = String> {
    // Printable text that is not blank; YAML-significant spellings included.
    prop_oneof![
        "[A-Za-z0-9][\\PC]{0,24}",
        Just("yes".to_owned()),
        Just("null".to_owned()),
        Just("1.0".to_owned()),
        Just("- x: 'y'".to_owned()),
    ]
}

fn app_id() -> impl Strategy<Value = AppId> {
    "[a-z0-9][a-z0-9-]{0,40}".prop_map(|s| AppId::new(s).unwrap())
}

fn name() -> impl Strategy<Value = ComponentName> {
    "[a-z][a-z0-9-]{0,20}".prop_map(|s| ComponentName::new(s).unwrap())
}

fn uuid() -> impl Strategy<Value = DeploymentId> {
    "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        .prop_map(|s| DeploymentId::new(s).unwrap())
}

fn revision() -> impl Strategy<Value = String> {
    (0..50u32, 0..50u32, 0..50u32, prop::option::of("[a-z]{1,5}")).prop_map(|(a, b, c, pre)| {
        match pre {
            Some(p) => format!("{a}.{b}.{c}-{p}"),
            None => format!("{a}.{b}.{c}"),
        }
    })
}

fn extensions() -> impl Strategy<Value = BTreeMap<String, Value>> {
    prop::option::of(("[a-z]{1,8}", text())).prop_map(|e| {
        e.map(|(n, v)| (format!("x-{n}-extensions"), json!({ "note": v })))
            .into_iter()
            .collect()
    })
}

fn components() -> impl Strategy<Value = Vec<Component>> {
    prop::collection::btree_map(
        name(),
        (
            revision(),
            any::<Option<bool>>(),
            prop::option::of((0..60u32, 0..60u32)),
            "[a-z]{1,10}",
            extensions(),
        ),
        1..4,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(
                |(name, (revision, wait, timeout, repo, extensions))| Component {
                    properties: ComponentProperties {
                        repository: Some(format!("oci://registry.example/{repo}")),
                        revision: Some(revision),
                        wait,
                        timeout: timeout.map(|(m, s)| format!("{m}m{s}s")),
                        ..ComponentProperties::default()
                    },
                    name,
                    extensions,
                },
            )
            .collect()
    })
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from)
    ]
}

fn parameters(
    components: &[Component],
    need_value: bool,
) -> impl Strategy<Value = BTreeMap<String, Parameter>> + use<> {
    let names: Vec<ComponentName> = components.iter().map(|c| c.name.clone()).collect();
    prop::collection::btree_map(
        "[a-zA-Z][a-zA-Z0-9]{0,12}",
        (value(), any::<bool>(), "[A-Z][A-Z_.]{0,12}"),
        0..4,
    )
    .prop_map(move |m| {
        m.into_iter()
            .map(|(k, (v, has, pointer))| {
                let value = (need_value || has).then_some(v);
                (
                    k,
                    Parameter {
                        value,
                        targets: vec![ParameterTarget {
                            pointer,
                            components: names.clone(),
                        }],
                    },
                )
            })
            .collect()
    })
}

fn profile_type() -> impl Strategy<Value = ProfileType> {
    prop_oneof![
        Just(ProfileType::Helm),
        Just(ProfileType::Compose),
        Just(ProfileType::Wasm),
        Just(ProfileType::Process)
    ]
}

prop_compose! {
    fn application()(comps in components(), t in profile_type(), id in app_id(), n in text(), v in text(),
                     tag in prop::collection::vec(text(), 0..3), ext in extensions())
        (params in parameters(&comps, false), comps in Just(comps), t in Just(t), id in Just(id), n in Just(n),
         v in Just(v), tag in Just(tag), ext in Just(ext)) -> ApplicationDescription {
        let settings: Vec<Setting> = params.keys().map(|p| Setting {
            parameter: p.clone(), name: p.clone(), description: None, immutable: Some(false), schema: "any".into(),
        }).collect();
        let configuration = (!settings.is_empty()).then(|| Configuration {
            sections: vec![Section { name: "General".into(), settings }],
            schema: vec![SchemaEntry {
                name: "any".into(), data_type: DataType::String, allow_empty: Some(true), min_length: None,
                max_length: None, regex_match: None, min_value: None, max_value: None, min_precision: None,
                max_precision: None, multiselect: None, options: None,
            }],
        });
        // Defaults must satisfy the string schema.
        let params = params.into_iter().map(|(k, mut p)| {
            p.value = p.value.map(|v| Value::String(match v { Value::String(s) => s, other => other.to_string() }));
            (k, p)
        }).collect();
        ApplicationDescription {
            api_version: "margo.org/v1-alpha1".into(),
            kind: "ApplicationDescription".into(),
            metadata: AppMetadata {
                id, name: n, description: None, version: v,
                catalog: Catalog {
                    application: Some(CatalogApplication { tagline: Some("t".into()), tags: tag, ..CatalogApplication::default() }),
                    author: Vec::new(),
                    organization: vec![Organization { name: "Org".into(), site: None }],
                },
            },
            deployment_profiles: vec![DeploymentProfile {
                profile_type: t, id: Some("p1".into()), description: None, components: comps,
                device_constraints: None, extensions: BTreeMap::new(),
            }],
            parameters: params,
            configuration,
            extensions: ext,
        }
    }
}

prop_compose! {
    fn deployment()(comps in components(), t in profile_type(), id in uuid(), app in app_id(), n in "[a-z-]{1,20}")
        (params in parameters(&comps, true), comps in Just(comps), t in Just(t), id in Just(id), app in Just(app), n in Just(n))
        -> ApplicationDeployment {
        ApplicationDeployment {
            api_version: "application.margo.org/v1alpha1".into(),
            kind: "ApplicationDeployment".into(),
            metadata: DeploymentMetadata {
                annotations: Annotations { id, application_id: app.clone(), other: BTreeMap::new() },
                name: n, namespace: "margo".into(),
                device_id: Some("gw/dev-1".parse().unwrap()),
                labels: BTreeMap::new(),
            },
            spec: DeploymentSpec {
                application_id: app,
                deployment_profile: DeploymentProfileSpec { profile_type: t, components: comps, device_constraints: None, extensions: BTreeMap::new() },
                parameters: params,
                extensions: BTreeMap::new(),
            },
        }
    }
}

prop_compose! {
    fn manifest()(version in 1..u64::MAX, deps in prop::collection::vec((uuid(), any::<Vec<u8>>(), any::<Option<u32>>()), 0..4)) -> DesiredStateManifest {
        let deployments: Vec<DeploymentRef> = deps.into_iter().map(|(id, bytes, size)| {
            let d = digest::sha256(&bytes);
            DeploymentRef { url: format!("/api/v1/deployments/{id}/{d}"), deployment_id: id, digest: d, size_bytes: size.map(u64::from) }
        }).collect();
        let bundle = (!deployments.is_empty()).then(|| {
            let d = digest::sha256(version.to_string().as_bytes());
            BundleRef { media_type: BUNDLE_MEDIA_TYPE.into(), url: format!("/api/v1/bundles/{d}"), digest: d, size_bytes: None }
        });
        DesiredStateManifest { manifest_version: version, bundle, deployments }
    }
}

fn state() -> impl Strategy<Value = State> {
    prop_oneof![
        Just(State::Pending),
        Just(State::Installing),
        Just(State::Installed),
        Just(State::Failed),
        Just(State::Removing),
        Just(State::Removed)
    ]
}

fn error() -> impl Strategy<Value = Option<StatusError>> {
    prop::option::of((
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
    ))
    .prop_map(|e| {
        e.map(|(code, source, message)| StatusError {
            code,
            source,
            message,
        })
    })
}

prop_compose! {
    fn status()(id in uuid(), v in 1..u64::MAX, s in state(), e in error(),
                comps in prop::collection::btree_map("[a-z]{1,8}", (state(), error()), 1..4)) -> DeploymentStatusManifest {
        DeploymentStatusManifest {
            api_version: None, kind: None, deployment_id: id, device_id: None, adopted_manifest_version: Some(v),
            status: OverallStatus { state: s, error: e },
            components: comps.into_iter().map(|(name, (state, error))| ComponentStatus { name, state, error }).collect(),
        }
    }
}

prop_compose! {
    fn capabilities()(id in "[a-z][a-z0-9._~-]{0,10}(/[a-z0-9]{1,5})?", vendor in text(), cores in 1..128u32,
                      labels in prop::collection::btree_map("[a-z./]{1,12}", value(), 0..3), ext in extensions()) -> DeviceCapabilitiesManifest {
        DeviceCapabilitiesManifest {
            properties: DeviceProperties {
                id: DeviceId::new(id).unwrap(), vendor, model_number: "m".into(), serial_number: "s".into(),
                cpus: vec![Cpu { cores: f64::from(cores) / 2.0, architecture: Some("arm64".into()) }],
                memory: Some("512Mi".into()), storage: Some("8Gi".into()),
                peripherals: vec![Peripheral { kind: "gpu".into(), manufacturer: None, model: None }],
                interfaces: vec![Interface { kind: "ethernet".into() }],
                otel_collector: Some(true),
                supported_runtimes: vec!["oci".into()],
                supported_deployment_types: vec!["compose".into(), "wasm".into()],
            },
            labels, extensions: ext,
        }
    }
}

prop_compose! {
    fn problem()(status in 100..600u16, title in text(), detail in prop::option::of(text()),
                 errors in prop::collection::vec((text(), text()), 0..3)) -> ProblemDetail {
        let mut p = ProblemDetail::new("about:blank", &title, status);
        p.detail = detail;
        p.errors = errors.into_iter().map(|(field, message)| FieldError { field, message }).collect();
        p
    }
}

fn round_trips<T: MargoDocument + PartialEq + std::fmt::Debug>(
    doc: &T,
) -> Result<(), TestCaseError> {
    let yaml = doc.to_yaml();
    let back = T::from_slice(yaml.as_bytes())
        .map_err(|e| TestCaseError::fail(format!("{e:?}\n{yaml}")))?;
    prop_assert_eq!(&back.document, doc);
    let json = serde_json::to_vec(doc).unwrap();
    let back = T::from_slice(&json).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert_eq!(&back.document, doc);
    Ok(())
}

fn json_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("helm.v3"),
            Just("sha256:00"),
            Just("oci://x"),
            Just("1.0.0"),
            Just("ApplicationDeployment")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        let keys = prop_oneof![
            "[a-zA-Z]{1,8}",
            Just("kind".to_owned()),
            Just("metadata".to_owned()),
            Just("spec".to_owned()),
            Just("properties".to_owned()),
            Just("deploymentProfiles".to_owned()),
            Just("components".to_owned()),
            Just("parameters".to_owned()),
            Just("manifestVersion".to_owned()),
            Just("bundle".to_owned()),
            Just("deployments".to_owned()),
            Just("status".to_owned()),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn application_descriptions_round_trip(doc in application()) { round_trips(&doc)?; }

    #[test]
    fn application_deployments_round_trip(doc in deployment()) { round_trips(&doc)?; }

    #[test]
    fn manifests_round_trip(doc in manifest()) {
        round_trips(&doc)?;
        // The canonical form is stable: parse it back and serialize again.
        let bytes = doc.to_canonical_json();
        let back = DesiredStateManifest::from_slice(&bytes).unwrap().document;
        prop_assert_eq!(back.to_canonical_json(), bytes);
    }

    #[test]
    fn status_reports_round_trip(doc in status()) { round_trips(&doc)?; }

    #[test]
    fn capabilities_round_trip(doc in capabilities()) { round_trips(&doc)?; }

    #[test]
    fn problems_round_trip(doc in problem()) { round_trips(&doc)?; }

    #[test]
    fn no_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = check_document(&bytes);
        let _ = ApplicationDescription::from_slice(&bytes);
    }

    #[test]
    fn no_panic_on_arbitrary_text(text in "\\PC{0,300}") {
        let _ = check_document(text.as_bytes());
        let _ = ApplicationDeployment::from_slice(text.as_bytes());
    }

    #[test]
    fn no_panic_on_arbitrary_trees(tree in json_tree()) {
        let bytes = serde_json::to_vec(&tree).unwrap();
        let _ = check_document(&bytes);
        let _ = ApplicationDescription::from_value(tree.clone());
        let _ = ApplicationDeployment::from_value(tree.clone());
        let _ = DesiredStateManifest::from_value(tree.clone());
        let _ = DeploymentStatusManifest::from_value(tree.clone());
        let _ = DeviceCapabilitiesManifest::from_value(tree.clone());
        let _ = ProblemDetail::from_value(tree);
    }
}

#[test]
fn every_problem_is_listed_not_just_the_first() {
    let doc = br#"
apiVersion: margo.org/v1-alpha1
kind: ApplicationDescription
metadata:
  id: Bad_Id
  name: ""
  version: "1"
  catalog: {organization: []}
deploymentProfiles:
  - type: kubernetes
    id: a
    components:
      - name: X
        properties: {repository: "http://x", revision: v1, timeout: 90s}
"#;
    let report = ApplicationDescription::from_slice(doc).unwrap_err();
    let edge_model::DocumentError::Invalid(report) = report else {
        panic!("{report:?}")
    };
    let paths: Vec<&str> = report.errors.iter().map(|e| e.path.as_str()).collect();
    for want in [
        "metadata.id",
        "metadata.name",
        "metadata.catalog.organization",
        "deploymentProfiles[0].type",
        "deploymentProfiles[0].components[0].name",
        "deploymentProfiles[0].components[0].properties.repository",
        "deploymentProfiles[0].components[0].properties.revision",
        "deploymentProfiles[0].components[0].properties.timeout",
    ] {
        assert!(paths.contains(&want), "missing {want} in {paths:?}");
    }
}

#[test]
fn floats_survive_json_exactly() {
    // Found by fuzzing: without serde_json's exact float parsing, this number
    // came back one step off through JSON (but not through YAML).
    let doc = b"type: about:blank\ntitle: T\nstatus: 400\nx: 0.09144338512092887\n";
    let p = ProblemDetail::from_slice(doc).unwrap().document;
    round_trips(&p).unwrap();
}

/// Found by the `application_deployment` fuzz target: `value:` followed
/// only by a comment is null; such a deployment was accepted, and then its
/// own YAML refused (`value` is required). Null is no value.
#[test]
fn a_null_parameter_value_is_refused_as_missing() {
    let doc = "apiVersion: application.margo.org/v1alpha1
kind: ApplicationDeployment
metadata:
  annotations:
    id: a3e2f5dc-912e-494f-8395-52cf3769bc06
    applicationId: demo
  name: demo-a3e2f5dc
  namespace: margo
  deviceId: edge-1
spec:
  applicationId: demo
  deploymentProfile:
    type: helm
    components:
      - name: api
        properties: {repository: oci://r/api, revision: 1.0.0}
  parameters:
    clientId:
      value: #123-ABC
      targets:
        - {pointer: idp.clientId, components: [api]}
";
    let err = ApplicationDeployment::from_slice(doc.as_bytes()).unwrap_err();
    assert!(
        err.to_string().contains("spec.parameters.clientId.value"),
        "{err}"
    );
    let fixed = doc.replace("value: #123-ABC", "value: \"#123-ABC\"");
    let ok = ApplicationDeployment::from_slice(fixed.as_bytes()).unwrap();
    round_trips(&ok.document).unwrap();
}
