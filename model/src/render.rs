//! From an application description and a user's choices to the
//! `ApplicationDeployment` one device receives.
//!
//! Pure functions: the deployment id, device and names are inputs, so the same
//! choices always render the same document. Parameter values given as text (as
//! on the command line) are converted to their schema's type and checked with
//! [`SchemaEntry::check`]; every problem is returned, not just the first.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use crate::app::{ApplicationDescription, DeploymentProfile};
use crate::deployment::{
    Annotations, ApplicationDeployment, DEPLOYMENT_API_VERSION, DeploymentMetadata,
    DeploymentProfileSpec, DeploymentSpec,
};
use crate::id::{DeploymentId, DeviceTarget};
use crate::issue::{Issue, Rule, Unfit};
use crate::profile::{Parameter, ParameterTarget};
use crate::schema::{DataType, SchemaEntry};

/// Convert a text value to the type its schema entry wants. Without a schema
/// entry, `true`/`false` and numbers keep their type and anything else is text.
///
/// # Errors
/// When `text` is not a value of the entry's type.
pub fn coerce(entry: Option<&SchemaEntry>, text: &str) -> Result<Value, Unfit> {
    converted(entry, text).map_err(Unfit)
}

fn converted(entry: Option<&SchemaEntry>, text: &str) -> Result<Value, String> {
    let Some(entry) = entry else {
        return Ok(serde_json::from_str::<Value>(text)
            .ok()
            .filter(|v| v.is_number() || v.is_boolean())
            .unwrap_or_else(|| Value::String(text.to_owned())));
    };
    let scalar = |t: &str, ty: DataType| -> Result<Value, String> {
        match ty {
            DataType::Integer | DataType::IntegerArray => t
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("`{t}` is not a whole number")),
            DataType::Double | DataType::DoubleArray => t
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("`{t}` is not a number")),
            DataType::Boolean | DataType::BooleanArray => match t.trim() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(format!("`{t}` is not true or false")),
            },
            DataType::String | DataType::StringArray => Ok(Value::String(t.to_owned())),
        }
    };
    let is_array = matches!(
        entry.data_type,
        DataType::StringArray
            | DataType::IntegerArray
            | DataType::DoubleArray
            | DataType::BooleanArray
    ) || entry.multiselect.unwrap_or(false);
    if is_array {
        if text.is_empty() {
            return Ok(Value::Array(Vec::new()));
        }
        text.split(',')
            .map(|t| scalar(t, entry.data_type))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    } else {
        scalar(text, entry.data_type)
    }
}

/// The parameters of `profile` with their final values: the description's
/// defaults, replaced by `set` (text, converted per schema), each checked
/// against its schema. Parameters that target no component of the profile are
/// left out; targets are narrowed to the profile's components.
pub fn parameters(
    app: &ApplicationDescription,
    profile: &DeploymentProfile,
    set: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Parameter>, Vec<Issue>> {
    let mut problems = Vec::new();
    for name in set.keys() {
        if !app.parameters.contains_key(name) {
            let known = app
                .parameters
                .keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let known = if known.is_empty() {
                "none".to_owned()
            } else {
                known
            };
            problems.push(Issue {
                path: format!("set.{name}"),
                rule: Rule::Reference,
                message: format!("the app has no parameter `{name}` (it has: {known})"),
            });
        }
    }
    let components: HashSet<&str> = profile.components.iter().map(|c| c.name.as_str()).collect();
    let mut out = BTreeMap::new();
    for (name, p) in &app.parameters {
        let targets: Vec<ParameterTarget> = p
            .targets
            .iter()
            .filter_map(|t| {
                let comps: Vec<_> = t
                    .components
                    .iter()
                    .filter(|c| components.contains(c.as_str()))
                    .cloned()
                    .collect();
                (!comps.is_empty()).then(|| ParameterTarget {
                    pointer: t.pointer.clone(),
                    components: comps,
                })
            })
            .collect();
        if targets.is_empty() {
            continue;
        }
        let entry = app.schema_for(name);
        let value = match set.get(name) {
            Some(text) => match coerce(entry, text) {
                Ok(v) => Some(v),
                Err(msg) => {
                    problems.push(Issue {
                        path: format!("set.{name}"),
                        rule: Rule::SchemaValue,
                        message: msg.0,
                    });
                    continue;
                }
            },
            None => p.value.clone(),
        };
        match (value, entry) {
            (Some(v), Some(e)) => match e.check(&v) {
                Ok(()) => {
                    out.insert(
                        name.clone(),
                        Parameter {
                            value: Some(v),
                            targets,
                        },
                    );
                }
                Err(msg) => problems.push(Issue {
                    path: format!("set.{name}"),
                    rule: Rule::SchemaValue,
                    message: format!("`{name}` {msg} (schema `{}`)", e.name),
                }),
            },
            (Some(v), None) => {
                out.insert(
                    name.clone(),
                    Parameter {
                        value: Some(v),
                        targets,
                    },
                );
            }
            (None, Some(e)) if e.required() => problems.push(Issue {
                path: format!("set.{name}"),
                rule: Rule::Required,
                message: format!("`{name}` needs a value: add `--set {name}=…`"),
            }),
            (None, _) => {}
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The deployment document for one device.
#[must_use]
pub fn deployment(
    app: &ApplicationDescription,
    profile: &DeploymentProfile,
    parameters: BTreeMap<String, Parameter>,
    id: DeploymentId,
    device: DeviceTarget,
    namespace: &str,
) -> ApplicationDeployment {
    let short: String = id.as_str().chars().take(8).collect();
    ApplicationDeployment {
        api_version: DEPLOYMENT_API_VERSION.to_owned(),
        kind: "ApplicationDeployment".to_owned(),
        metadata: DeploymentMetadata {
            annotations: Annotations {
                id,
                application_id: app.metadata.id.clone(),
                other: BTreeMap::new(),
            },
            name: format!("{}-{short}", app.metadata.id),
            namespace: namespace.to_owned(),
            device_id: Some(device),
            labels: BTreeMap::from([("app.version".to_owned(), app.metadata.version.clone())]),
        },
        spec: DeploymentSpec {
            application_id: app.metadata.id.clone(),
            deployment_profile: DeploymentProfileSpec {
                profile_type: profile.profile_type,
                components: profile.components.clone(),
                device_constraints: profile.device_constraints.clone(),
                extensions: profile.extensions.clone(),
            },
            parameters,
            extensions: BTreeMap::new(),
        },
    }
}

/// The settings of `app` marked `immutable` whose value would change from
/// `installed` (the parameters of the deployment as it runs) to `next`,
/// each as a problem naming both values: such a value is fixed at install.
#[must_use]
pub fn immutable_changes(
    app: &ApplicationDescription,
    installed: &BTreeMap<String, Parameter>,
    next: &BTreeMap<String, Parameter>,
) -> Vec<Issue> {
    let Some(conf) = &app.configuration else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for setting in conf.sections.iter().flat_map(|s| &s.settings) {
        if setting.immutable != Some(true) {
            continue;
        }
        let name = &setting.parameter;
        let was = installed.get(name).and_then(|p| p.value.as_ref());
        let now = next.get(name).and_then(|p| p.value.as_ref());
        if was != now {
            let show =
                |v: Option<&Value>| v.map_or_else(|| "unset".to_owned(), ToString::to_string);
            problems.push(Issue {
                path: format!("set.{name}"),
                rule: Rule::SchemaValue,
                message: format!(
                    "`{name}` is immutable: it was {} at install and cannot become {}; undeploy and deploy again to change it",
                    show(was),
                    show(now)
                ),
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MargoDocument as _;

    const APP: &str = r#"
apiVersion: margo.org/v1-alpha1
kind: ApplicationDescription
metadata:
  id: demo
  name: Demo
  version: 1.2.0
  catalog: {organization: [{name: Org}]}
deploymentProfiles:
  - type: helm
    id: h
    components:
      - {name: api, properties: {repository: "oci://r/api", revision: 1.0.0}}
  - type: wasm
    id: w
    components:
      - {name: mod, properties: {repository: "oci://r/mod", revision: 1.0.0}}
parameters:
  greeting: {value: hi, targets: [{pointer: GREETING, components: [mod]}, {pointer: a.greeting, components: [api]}]}
  poll: {value: 60, targets: [{pointer: POLL, components: [mod]}]}
  token: {targets: [{pointer: TOKEN, components: [mod]}]}
  replicas: {value: 2, targets: [{pointer: replicas, components: [api]}]}
configuration:
  sections:
    - name: S
      settings:
        - {parameter: greeting, name: G, schema: text}
        - {parameter: poll, name: P, schema: range}
        - {parameter: token, name: T, schema: text}
  schema:
    - {name: text, dataType: string, maxLength: 10, allowEmpty: false}
    - {name: range, dataType: integer, minValue: 30, maxValue: 360}
"#;

    fn app() -> ApplicationDescription {
        ApplicationDescription::from_slice(APP.as_bytes())
            .unwrap()
            .document
    }

    #[test]
    fn values_are_converted_checked_and_narrowed_to_the_profile() {
        let app = app();
        let wasm = &app.deployment_profiles[1];
        let set = BTreeMap::from([
            ("poll".to_owned(), "120".to_owned()),
            ("token".to_owned(), "s3cret".to_owned()),
        ]);
        let p = parameters(&app, wasm, &set).unwrap();
        assert_eq!(p["poll"].value, Some(Value::from(120)));
        assert_eq!(
            p["greeting"].targets.len(),
            1,
            "only the wasm component's target stays"
        );
        assert!(
            !p.contains_key("replicas"),
            "a helm-only parameter is left out"
        );
        let d = deployment(
            &app,
            wasm,
            p,
            DeploymentId::new("a3e2f5dc-912e-494f-8395-52cf3769bc06").unwrap(),
            "gw/dev".parse().unwrap(),
            "margo",
        );
        let yaml = d.to_yaml();
        let back = ApplicationDeployment::from_slice(yaml.as_bytes()).unwrap();
        assert_eq!(
            back.document, d,
            "a rendered deployment is a valid Margo document"
        );
        assert_eq!(d.metadata.name, "demo-a3e2f5dc");
    }

    #[test]
    fn every_problem_is_reported() {
        let app = app();
        let wasm = &app.deployment_profiles[1];
        let set = BTreeMap::from([
            ("poll".to_owned(), "often".to_owned()),
            ("greeting".to_owned(), "far too long a greeting".to_owned()),
            ("colour".to_owned(), "red".to_owned()),
        ]);
        let errs = parameters(&app, wasm, &set).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["set.colour", "set.greeting", "set.poll", "set.token"],
            "{errs:?}"
        );
        assert!(errs[3].message.contains("--set token="));
    }

    #[test]
    fn coercion_follows_the_schema() {
        let e: SchemaEntry =
            serde_json::from_value(serde_json::json!({"name": "b", "dataType": "boolean"}))
                .unwrap();
        assert_eq!(coerce(Some(&e), "true"), Ok(Value::Bool(true)));
        assert!(coerce(Some(&e), "yes").is_err());
        let a: SchemaEntry =
            serde_json::from_value(serde_json::json!({"name": "a", "dataType": "array[integer]"}))
                .unwrap();
        assert_eq!(coerce(Some(&a), "1,2"), Ok(serde_json::json!([1, 2])));
        assert_eq!(coerce(None, "5"), Ok(Value::from(5)));
        assert_eq!(coerce(None, "hello"), Ok(Value::from("hello")));
    }

    #[test]
    fn only_an_immutable_setting_whose_value_moves_is_a_problem() {
        let mut a = app();
        if let Some(c) = a.configuration.as_mut() {
            c.sections[0].settings[1].immutable = Some(true);
        }
        let profile = a
            .profile(crate::profile::ProfileType::Wasm)
            .unwrap()
            .clone();
        let set = |poll: &str| {
            let mut m = BTreeMap::new();
            m.insert("poll".to_owned(), poll.to_owned());
            m.insert("token".to_owned(), "t".to_owned());
            parameters(&a, &profile, &m).unwrap()
        };
        let installed = set("60");
        assert!(immutable_changes(&a, &installed, &set("60")).is_empty());
        let mut greeting = set("60");
        greeting.get_mut("greeting").unwrap().value = Some(Value::from("other"));
        assert!(
            immutable_changes(&a, &installed, &greeting).is_empty(),
            "greeting is not immutable"
        );
        let moved = immutable_changes(&a, &installed, &set("90"));
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].path, "set.poll");
        assert!(
            moved[0]
                .message
                .contains("it was 60 at install and cannot become 90"),
            "{}",
            moved[0].message
        );
    }
}
