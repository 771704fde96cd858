//! `DeviceCapabilitiesManifest`: what a device tells its fleet manager about
//! itself: identity, resources delegated to Margo, deployment types and labels.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::artifact::{DEPLOYMENT_TYPES, EDGECTL_EXTENSION};
use crate::check::{
    Obj, keys, list, obj, one_of, open_keys, opt, opt_bool, opt_list, opt_obj, opt_str, pattern,
    req_list, req_number, req_obj, req_str, req_text, shorten, string,
};
use crate::document::{DocumentKind, MargoDocument};
use crate::id::{DeviceId, MEMORY, STORAGE};
use crate::issue::{Report, Rule, field, index};
use crate::profile::{Extensions, ProfileType};

/// Device capabilities (rc.3 form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCapabilitiesManifest {
    /// Identity and resources.
    pub properties: DeviceProperties,
    /// Supplier-defined labels for eligibility rules.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Value>,
    /// Specification extensions.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `properties` of the capabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct DeviceProperties {
    pub id: DeviceId,
    pub vendor: String,
    pub model_number: String,
    pub serial_number: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<Cpu>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peripherals: Vec<Peripheral>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otel_collector: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_runtimes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_deployment_types: Vec<String>,
}

/// One CPU entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Cpu {
    pub cores: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
}

/// A peripheral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Peripheral {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// A communication interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Interface {
    #[serde(rename = "type")]
    pub kind: String,
}

const ARCHS_RC3: [&str; 3] = ["amd64", "arm64", "arm"];
const ARCHS_M: [&str; 6] = ["amd64", "arm64", "arm", "riscv64", "other", "x86_64"];
const PERIPHERALS: [&str; 6] = ["gpu", "display", "camera", "microphone", "speaker", "other"];
const INTERFACES: [&str; 8] = [
    "ethernet",
    "wifi",
    "cellular",
    "bluetooth",
    "usb",
    "canbus",
    "rs232",
    "other",
];
const ROLES: [&str; 4] = [
    "Standalone Cluster",
    "Cluster Leader",
    "Standalone Device",
    "Gateway",
];
const RUNTIMES: [&str; 2] = ["oci", "custom"];
/// rc.3's deployment types, then our own as an earlier release reported them
/// (read, with a note; never written).
const DEPLOY_TYPES: [&str; 6] = ["helm", "compose", "custom", "wasm", "process", "container"];

fn check_enum_list(r: &mut Report, m: &Obj, at: &str, key: &str, allowed: &[&str], nonempty: bool) {
    let lat = field(at, key);
    let items = if nonempty {
        req_list(r, m, at, key)
    } else {
        opt_list(r, m, at, key)
    };
    for (i, v) in items.into_iter().flatten().enumerate() {
        if let Some(s) = string(r, v, &index(&lat, i)) {
            one_of(r, s, &index(&lat, i), allowed);
        }
    }
}

/// Our extension on a capabilities report: `deploymentTypes`, the edgectl
/// types `custom` stands for. A member or a type this release does not know
/// (a newer node's) is ignored with a note.
fn check_edgectl_extension(r: &mut Report, e: &Obj) {
    let at = EDGECTL_EXTENSION;
    open_keys(r, e, at, &[DEPLOYMENT_TYPES]);
    let lat = field(at, DEPLOYMENT_TYPES);
    for (i, v) in opt_list(r, e, at, DEPLOYMENT_TYPES)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let iat = index(&lat, i);
        let Some(t) = string(r, v, &iat) else {
            continue;
        };
        match ProfileType::parse(t) {
            Some(p) if p.is_extension() => r.note(
                iat,
                Rule::Extension,
                format!("`{t}` is an edgectl deployment type, reported as `custom`"),
            ),
            Some(_) => r.note(
                iat,
                Rule::Extension,
                format!("`{t}` is a Margo type; it belongs in `supportedDeploymentTypes`"),
            ),
            None => r.note(
                iat,
                Rule::Extension,
                format!(
                    "`{}` is not a deployment type this release knows; ignored",
                    shorten(t)
                ),
            ),
        }
    }
}

fn check_typed_list(
    r: &mut Report,
    m: &Obj,
    at: &str,
    key: &str,
    allowed: &[&str],
    extra: &[&str],
) {
    let lat = field(at, key);
    for (i, v) in opt_list(r, m, at, key).into_iter().flatten().enumerate() {
        let iat = index(&lat, i);
        let Some(o) = obj(r, v, &iat) else { continue };
        let mut all = vec!["type", "name", "modelNumber", "properties"];
        all.extend_from_slice(extra);
        keys(r, o, &iat, &all);
        if let Some(t) = req_str(r, o, &iat, "type") {
            one_of(r, t, &field(&iat, "type"), allowed);
        }
    }
}

fn check_quantities(r: &mut Report, m: &Obj, at: &str) {
    for (key, re, hint) in [
        (
            "memory",
            &*MEMORY,
            "use a binary quantity such as `512Mi` or `4Gi`",
        ),
        (
            "storage",
            &*STORAGE,
            "use a binary quantity such as `10Gi` or `1Ti`",
        ),
    ] {
        let Some(s) = opt_str(r, m, at, key) else {
            continue;
        };
        let tight = tighten(s);
        if tight != s && re.is_match(&tight) {
            r.note(
                field(at, key),
                Rule::Era,
                format!("`{s}` has blanks a quantity does not; read as `{tight}`"),
            );
        } else {
            pattern(r, s, &field(at, key), re, hint);
        }
    }
}

/// A quantity without the blanks some clients put around it or between
/// its number and unit (`59 Gi`); only a reading, the pattern still decides.
fn tighten(s: &str) -> String {
    let t = s.trim();
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = t.split_at(digits);
    let unit = unit.trim_start();
    if unit.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("{number}{unit}")
    } else {
        s.to_owned()
    }
}

impl MargoDocument for DeviceCapabilitiesManifest {
    const KIND: DocumentKind = DocumentKind::DeviceCapabilitiesManifest;

    fn check(r: &mut Report, m: &Obj) {
        keys(r, m, "", &["apiVersion", "kind", "properties", "labels"]);
        crate::check::draft_header(r, m, &["DeviceCapabilitiesManifest", "DeviceCapabilities"]);
        if let Some(labels) = opt_obj(r, m, "", "labels") {
            for (k, v) in labels {
                let ok = match v {
                    Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
                    Value::Array(a) => {
                        a.iter().all(Value::is_string) || a.iter().all(Value::is_number)
                    }
                    _ => false,
                };
                if !ok {
                    r.error(field("labels", k), Rule::Type, "a label must be a string, number, boolean, or a list of strings or of numbers");
                }
            }
        }
        let Some(p) = req_obj(r, m, "", "properties") else {
            return;
        };
        let at = "properties";
        if let Some(id) = req_str(r, p, at, "id") {
            crate::check::valid_id(
                r,
                id,
                "properties.id",
                DeviceId::is_valid(id),
                DeviceId::RULE,
            );
        }
        for k in ["vendor", "modelNumber", "serialNumber"] {
            req_text(r, p, at, k);
        }
        if let Some(res) = opt_obj(r, p, at, "resources") {
            r.note("properties.resources", Rule::Era, "`roles` and `resources` are from a draft before rc.3; resources are flattened into `properties`");
            keys(
                r,
                p,
                at,
                &[
                    "id",
                    "vendor",
                    "modelNumber",
                    "serialNumber",
                    "roles",
                    "resources",
                ],
            );
            check_enum_list(r, p, at, "roles", &ROLES, true);
            let rat = "properties.resources";
            keys(
                r,
                res,
                rat,
                &["cpu", "memory", "storage", "peripherals", "interfaces"],
            );
            if let Some(cpu) = req_obj(r, res, rat, "cpu") {
                let cat = field(rat, "cpu");
                keys(r, cpu, &cat, &["cores", "architectures"]);
                req_number(r, cpu, &cat, "cores");
                check_enum_list(r, cpu, &cat, "architectures", &ARCHS_M, false);
            }
            check_quantities(r, res, rat);
            check_typed_list(
                r,
                res,
                rat,
                "peripherals",
                &PERIPHERALS,
                &["manufacturer", "model"],
            );
            check_typed_list(r, res, rat, "interfaces", &INTERFACES, &[]);
            return;
        }
        keys(
            r,
            p,
            at,
            &[
                "id",
                "vendor",
                "modelNumber",
                "serialNumber",
                "cpus",
                "cpu",
                "memory",
                "storage",
                "peripherals",
                "interfaces",
                "otelCollector",
                "supportedRuntimes",
                "supportedDeploymentTypes",
            ],
        );
        let cpu_key = if opt(p, "cpus").is_none() && opt(p, "cpu").is_some() {
            r.note(
                "properties.cpu",
                Rule::Era,
                "`cpu` is the capabilities page's name for the rc.3 `cpus` list",
            );
            "cpu"
        } else {
            "cpus"
        };
        let lat = field(at, cpu_key);
        for (i, c) in opt(p, cpu_key)
            .and_then(|v| list(r, v, &lat))
            .into_iter()
            .flatten()
            .enumerate()
        {
            let cat = index(&lat, i);
            let Some(c) = obj(r, c, &cat) else { continue };
            keys(r, c, &cat, &["cores", "architecture"]);
            req_number(r, c, &cat, "cores");
            if let Some(a) = opt_str(r, c, &cat, "architecture") {
                one_of(r, a, &field(&cat, "architecture"), &ARCHS_RC3);
            }
        }
        check_quantities(r, p, at);
        check_typed_list(
            r,
            p,
            at,
            "peripherals",
            &PERIPHERALS[..5],
            &["manufacturer", "model"],
        );
        check_typed_list(r, p, at, "interfaces", &INTERFACES[..7], &[]);
        opt_bool(r, p, at, "otelCollector");
        let hosting =
            opt(p, "supportedDeploymentTypes").is_some() || opt(p, "supportedRuntimes").is_some();
        if hosting {
            check_enum_list(r, p, at, "supportedRuntimes", &RUNTIMES, true);
            check_enum_list(r, p, at, "supportedDeploymentTypes", &DEPLOY_TYPES, true);
            for (i, t) in opt_list(r, p, at, "supportedDeploymentTypes")
                .into_iter()
                .flatten()
                .enumerate()
            {
                if let Some(t @ ("wasm" | "process" | "container")) = t.as_str() {
                    r.note(
                        index("properties.supportedDeploymentTypes", i),
                        Rule::Era,
                        format!("`{t}` here is an earlier edgectl release's report; rc.3 allows only `helm`, `compose` and `custom`, and edgectl now lists `custom` with `{t}` in `{EDGECTL_EXTENSION}.{DEPLOYMENT_TYPES}`"),
                    );
                }
            }
        }
        if let Some(Value::Object(e)) = opt(m, EDGECTL_EXTENSION) {
            check_edgectl_extension(r, e);
        }
    }

    fn normalize(mut m: Map<String, Value>) -> Map<String, Value> {
        m.remove("apiVersion");
        m.remove("kind");
        let Some(Value::Object(p)) = m.get_mut("properties") else {
            return m;
        };
        for key in ["memory", "storage"] {
            if let Some(Value::String(s)) = p.get_mut(key) {
                *s = tighten(s);
            }
        }
        p.remove("roles");
        if let Some(cpu) = p.remove("cpu") {
            p.insert("cpus".into(), cpu);
        }
        if let Some(Value::Object(mut res)) = p.remove("resources") {
            if let Some(Value::Object(cpu)) = res.remove("cpu") {
                let cores = cpu.get("cores").cloned().unwrap_or(Value::Null);
                let arch = cpu
                    .get("architectures")
                    .and_then(|a| a.get(0))
                    .and_then(Value::as_str);
                let entry = match arch {
                    Some("x86_64") => json!({"cores": cores, "architecture": "amd64"}),
                    Some(a) => json!({"cores": cores, "architecture": a}),
                    None => json!({"cores": cores}),
                };
                p.insert("cpus".into(), Value::Array(vec![entry]));
            }
            for (k, v) in res {
                p.insert(k, v);
            }
        }
        for key in ["peripherals", "interfaces"] {
            if let Some(Value::Array(items)) = p.get_mut(key) {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    item.retain(|k, _| matches!(k.as_str(), "type" | "manufacturer" | "model"));
                }
            }
        }
        m
    }
}
