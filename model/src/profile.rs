//! Deployment profiles, components, parameters and device constraints: the
//! parts shared by the application description and the application deployment.
//!
//! Types here are the rc.3 form. The `check_*` functions validate the untrusted
//! value tree of any era and record every problem; `normalize_*` rewrite older
//! drafts into the rc.3 form before typed deserialization.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::artifact::{EDGECTL_EXTENSION, Limits, MAX_WASM_MEMORY, MIN_WASM_MEMORY};
use crate::check::{
    Obj, keys, list, obj, one_of, opt, opt_bool, opt_list, opt_obj, opt_str, pattern, req_list,
    req_number, req_obj, req_str, req_text, shorten, string, unique,
};
use crate::id::{COMPONENT_NAME, ComponentName, MEMORY, REVISION, STORAGE, TIMEOUT};
use crate::issue::{Report, Rule, field, index};

/// Specification extensions (`x-<name>-extensions` keys and their mappings).
pub type Extensions = BTreeMap<String, Value>;

/// How a profile's components are deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileType {
    /// Helm v3 charts (Margo).
    Helm,
    /// Compose archives (Margo).
    Compose,
    /// WebAssembly modules run by wasmtime (edgectl extension).
    Wasm,
    /// Native programs run as processes (edgectl extension).
    Process,
    /// One OCI container image run by podman or docker (edgectl extension).
    Container,
}

impl ProfileType {
    /// Every type and the spellings accepted for it, newest first.
    const SPELLINGS: [(&'static str, Self); 7] = [
        ("helm", Self::Helm),
        ("helm.v3", Self::Helm),
        ("compose", Self::Compose),
        ("docker-compose", Self::Compose),
        ("wasm", Self::Wasm),
        ("process", Self::Process),
        ("container", Self::Container),
    ];

    /// The rc.3 spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Helm => "helm",
            Self::Compose => "compose",
            Self::Wasm => "wasm",
            Self::Process => "process",
            Self::Container => "container",
        }
    }

    /// Parse any era's spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::SPELLINGS
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, t)| *t)
    }

    /// True for types that are edgectl extensions, not Margo.
    #[must_use]
    pub fn is_extension(self) -> bool {
        matches!(self, Self::Wasm | Self::Process | Self::Container)
    }
}

impl std::fmt::Display for ProfileType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One component of a deployment profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// Component name, unique within its profile.
    pub name: ComponentName,
    /// Where the component comes from and how to install it.
    pub properties: ComponentProperties,
    /// Specification extensions.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// Component properties: OCI coordinates (rc.3) or a package URL (older drafts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentProperties {
    /// `oci://…` reference, or a package-local path (edgectl extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// SemVer tag of the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Finish this component before the next one (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<bool>,
    /// Install timeout, `##m##s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Compose tarball URL (drafts before rc.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_location: Option<String>,
    /// PGP key URL for `packageLocation` (drafts before rc.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_location: Option<String>,
    /// Specification extensions.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// The `host:port/name:tag` (or `…@sha256:…`) a registry knows for an
/// `oci://` repository and its revision; `None` for anything that is not
/// an `oci://` reference.
#[must_use]
pub fn oci_reference(repository: &str, revision: Option<&str>) -> Option<String> {
    let rest = repository.strip_prefix("oci://")?;
    if rest.is_empty() || rest.contains("..") || rest.starts_with('/') {
        return None;
    }
    Some(match revision {
        Some(d) if d.starts_with("sha256:") => format!("{rest}@{d}"),
        Some(tag) => format!("{rest}:{tag}"),
        None => rest.to_owned(),
    })
}

impl ComponentProperties {
    /// The repository when it is a package-local path rather than a URL.
    #[must_use]
    pub fn local_path(&self) -> Option<&str> {
        self.repository.as_deref().filter(|r| is_local_path(r))
    }
}

/// A parameter: a value and the places it is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    /// The value (a default, in an application description).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Where the value goes.
    pub targets: Vec<ParameterTarget>,
}

/// Where one parameter value is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterTarget {
    /// Helm values path, or environment variable name for other types.
    pub pointer: String,
    /// Components the pointer applies to.
    pub components: Vec<ComponentName>,
}

/// What a device must offer to host a profile (rc.3 `deviceConstraints`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceConstraints {
    /// Minimum resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_requirements: Option<CapacityRequirements>,
    /// Alternatives (OR) of property and label rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eligibility_rules: Vec<EligibilityRule>,
}

/// Minimum resources of a device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityRequirements {
    /// Cores and architectures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuRequirement>,
    /// Memory such as `512Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Storage such as `10Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

/// CPU requirement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuRequirement {
    /// Cores, decimal (0.5 is half a core).
    pub cores: f64,
    /// Accepted architectures; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
}

/// One eligibility rule; both selectors, when present, must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EligibilityRule {
    /// Matched against the capabilities `properties`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_selector: Option<Selector>,
    /// Matched against the capabilities `labels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<Selector>,
}

/// Expressions that must all match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// The expressions (AND).
    pub match_expressions: Vec<MatchExpression>,
}

/// One selector expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchExpression {
    /// JSON Pointer (property selectors) or label key.
    pub key: String,
    /// The operator.
    pub operator: Operator,
    /// Operands of `In`, `NotIn`, `Gt`, `Lt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
    /// Element selector of `ContainsAll`/`ContainsAny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_selector: Option<Box<Selector>>,
}

/// Match expression operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
    ContainsAll,
    ContainsAny,
}

const OPERATORS: [&str; 8] = [
    "In",
    "NotIn",
    "Exists",
    "DoesNotExist",
    "Gt",
    "Lt",
    "ContainsAll",
    "ContainsAny",
];
const DEPLOY_ARCHITECTURES: [&str; 5] = ["amd64", "arm64", "arm", "riscv64", "other"];

/// A relative path inside the package: no scheme, not absolute, no `..`.
#[must_use]
pub fn is_local_path(s: &str) -> bool {
    !s.is_empty()
        && !s.contains("://")
        && !s.starts_with('/')
        && !s.contains('\\')
        && s.split('/').all(|seg| seg != "..")
}

/// Check a profile `type`; notes older spellings and extensions.
pub(crate) fn check_type(r: &mut Report, m: &Obj, path: &str) -> Option<ProfileType> {
    let s = req_str(r, m, path, "type")?;
    let at = field(path, "type");
    let Some(t) = ProfileType::parse(s) else {
        let names: Vec<&str> = ProfileType::SPELLINGS.iter().map(|(n, _)| *n).collect();
        one_of(r, s, &at, &names);
        return None;
    };
    if t.is_extension() {
        r.note(
            &at,
            Rule::Extension,
            format!("profile type `{s}` is an edgectl extension; other Margo fleet managers will not deploy it"),
        );
    } else if s != t.as_str() {
        r.note(
            &at,
            Rule::Era,
            format!("`{s}` is an older Margo spelling of `{t}`"),
        );
    }
    Some(t)
}

/// Check a component list and return the names found (for references).
pub(crate) fn check_components<'a>(
    r: &mut Report,
    m: &'a Obj,
    path: &str,
) -> Vec<(usize, &'a str)> {
    let list_path = field(path, "components");
    let Some(items) = req_list(r, m, path, "components") else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = index(&list_path, i);
        let Some(c) = obj(r, item, &at) else { continue };
        keys(r, c, &at, &["name", "properties"]);
        if let Some(name) = req_str(r, c, &at, "name") {
            pattern(
                r,
                name,
                &field(&at, "name"),
                &COMPONENT_NAME,
                ComponentName::RULE,
            );
            names.push((i, name));
        }
        if let Some(p) = req_obj(r, c, &at, "properties") {
            check_properties(r, p, &field(&at, "properties"));
        }
        if let Some(Value::Object(e)) = opt(c, EDGECTL_EXTENSION) {
            check_edgectl_extension(r, e, &field(&at, EDGECTL_EXTENSION));
        }
    }
    unique(
        r,
        names.iter().copied(),
        &list_path,
        "name",
        "component name",
    );
    names
}

/// Our own component extension: `limits` (a WebAssembly component's
/// `memoryBytes` and `fuel`) and `artifact` (written by the fleet manager).
fn check_edgectl_extension(r: &mut Report, e: &Obj, path: &str) {
    keys(r, e, path, &["limits", "artifact"]);
    let Some(limits) = opt_obj(r, e, path, "limits") else {
        return;
    };
    let at = field(path, "limits");
    keys(r, limits, &at, &["memoryBytes", "fuel"]);
    for (key, low, high) in [
        ("memoryBytes", MIN_WASM_MEMORY, MAX_WASM_MEMORY),
        ("fuel", 1, u64::MAX),
    ] {
        match opt(limits, key) {
            None => {}
            Some(Value::Number(n)) if n.as_u64().is_some_and(|v| (low..=high).contains(&v)) => {}
            Some(_) => r.error(
                field(&at, key),
                Rule::Range,
                format!("must be a whole number from {low} to {high}"),
            ),
        }
    }
}

fn check_properties(r: &mut Report, p: &Obj, path: &str) {
    keys(
        r,
        p,
        path,
        &[
            "repository",
            "revision",
            "wait",
            "timeout",
            "packageLocation",
            "keyLocation",
        ],
    );
    let old_style = opt(p, "packageLocation").is_some();
    if old_style {
        r.note(
            field(path, "packageLocation"),
            Rule::Era,
            "`packageLocation` is from Margo drafts before rc.3, which use `repository` and `revision`",
        );
        opt_str(r, p, path, "packageLocation");
        opt_str(r, p, path, "keyLocation");
    }
    let repository = if old_style {
        opt_str(r, p, path, "repository")
    } else {
        req_str(r, p, path, "repository")
    };
    if let Some(repo) = repository {
        let at = field(path, "repository");
        if let Some(rest) = repo.strip_prefix("oci://") {
            if rest.is_empty() {
                r.error(
                    at,
                    Rule::Pattern,
                    "`oci://` must be followed by a registry and repository",
                );
            }
        } else if is_local_path(repo) && !repo.contains(':') {
            r.note(
                at,
                Rule::Extension,
                format!("`{}` is a package-local artifact, an edgectl extension (Margo wants `oci://…`)", shorten(repo)),
            );
        } else {
            r.error(
                at,
                Rule::Pattern,
                format!("`{}` is not valid: use an `oci://` reference (or a relative path inside the package)", shorten(repo)),
            );
        }
    }
    let revision = if old_style {
        opt_str(r, p, path, "revision")
    } else {
        req_str(r, p, path, "revision")
    };
    if let Some(rev) = revision {
        pattern(
            r,
            rev,
            &field(path, "revision"),
            &REVISION,
            "use SemVer 2.0 such as `1.2.3`, without a leading `v`, and `_` before build metadata",
        );
    }
    opt_bool(r, p, path, "wait");
    if let Some(t) = opt_str(r, p, path, "timeout") {
        pattern(
            r,
            t,
            &field(path, "timeout"),
            &TIMEOUT,
            "use minutes and seconds such as `5m0s` or `8m30s`",
        );
    }
}

/// Check a `parameters` mapping; targets must name known components.
pub(crate) fn check_parameters(
    r: &mut Report,
    v: &Value,
    path: &str,
    components: &HashSet<&str>,
    value_required: bool,
) {
    let Some(params) = obj(r, v, path) else {
        return;
    };
    for (name, p) in params {
        let at = field(path, name);
        let Some(p) = obj(r, p, &at) else { continue };
        keys(r, p, &at, &["value", "targets"]);
        // `value: null` (or `value:` with nothing, or only a comment, after
        // it) is no value either.
        if value_required && p.get("value").is_none_or(Value::is_null) {
            r.error(field(&at, "value"), Rule::Required, "`value` is required");
        }
        let targets_path = field(&at, "targets");
        let Some(targets) = req_list(r, p, &at, "targets") else {
            continue;
        };
        for (i, t) in targets.iter().enumerate() {
            let tat = index(&targets_path, i);
            let Some(t) = obj(r, t, &tat) else { continue };
            keys(r, t, &tat, &["pointer", "components"]);
            req_text(r, t, &tat, "pointer");
            let cpath = field(&tat, "components");
            let Some(names) = req_list(r, t, &tat, "components") else {
                continue;
            };
            for (j, c) in names.iter().enumerate() {
                let Some(c) = string(r, c, &index(&cpath, j)) else {
                    continue;
                };
                if !components.contains(c) {
                    r.error(
                        index(&cpath, j),
                        Rule::Reference,
                        format!("no component is named `{}`", shorten(c)),
                    );
                }
            }
        }
    }
}

/// Check `deviceConstraints`.
pub(crate) fn check_constraints(r: &mut Report, m: &Obj, path: &str) {
    keys(r, m, path, &["capacityRequirements", "eligibilityRules"]);
    if let Some(c) = opt_obj(r, m, path, "capacityRequirements") {
        let at = field(path, "capacityRequirements");
        keys(r, c, &at, &["cpu", "memory", "storage"]);
        check_capacity(r, c, &at);
    }
    let rules_path = field(path, "eligibilityRules");
    for (i, rule) in opt_list(r, m, path, "eligibilityRules")
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = index(&rules_path, i);
        let Some(rule) = obj(r, rule, &at) else {
            continue;
        };
        keys(r, rule, &at, &["propertySelector", "labelSelector"]);
        for key in ["propertySelector", "labelSelector"] {
            if let Some(s) = opt_obj(r, rule, &at, key) {
                check_selector(r, s, &field(&at, key), 0);
            }
        }
    }
}

fn check_capacity(r: &mut Report, c: &Obj, at: &str) {
    if let Some(cpu) = opt_obj(r, c, at, "cpu") {
        let cat = field(at, "cpu");
        keys(r, cpu, &cat, &["cores", "architectures"]);
        if let Some(cores) = req_number(r, cpu, &cat, "cores")
            && cores <= 0.0
        {
            r.error(
                field(&cat, "cores"),
                Rule::Range,
                "`cores` must be greater than 0",
            );
        }
        let apath = field(&cat, "architectures");
        for (i, a) in opt_list(r, cpu, &cat, "architectures")
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(a) = string(r, a, &index(&apath, i)) {
                one_of(r, a, &index(&apath, i), &DEPLOY_ARCHITECTURES);
            }
        }
    }
    if let Some(m) = opt_str(r, c, at, "memory") {
        pattern(
            r,
            m,
            &field(at, "memory"),
            &MEMORY,
            "use a binary quantity such as `512Mi` or `4Gi`",
        );
    }
    if let Some(s) = opt_str(r, c, at, "storage") {
        pattern(
            r,
            s,
            &field(at, "storage"),
            &STORAGE,
            "use a binary quantity such as `10Gi` or `1Ti`",
        );
    }
}

fn check_selector(r: &mut Report, s: &Obj, path: &str, depth: usize) {
    keys(r, s, path, &["matchExpressions"]);
    let list_path = field(path, "matchExpressions");
    let Some(exprs) = req_list(r, s, path, "matchExpressions") else {
        return;
    };
    for (i, e) in exprs.iter().enumerate() {
        let at = index(&list_path, i);
        let Some(e) = obj(r, e, &at) else { continue };
        keys(r, e, &at, &["key", "operator", "values", "itemSelector"]);
        req_text(r, e, &at, "key");
        let Some(op) = req_str(r, e, &at, "operator") else {
            continue;
        };
        if !one_of(r, op, &field(&at, "operator"), &OPERATORS) {
            continue;
        }
        let values = opt(e, "values").and_then(|v| list(r, v, &field(&at, "values")));
        let item = opt_obj(r, e, &at, "itemSelector");
        match op {
            "In" | "NotIn" | "Gt" | "Lt" => {
                if values.is_none_or(Vec::is_empty) {
                    r.error(
                        field(&at, "values"),
                        Rule::Required,
                        format!("`{op}` needs `values`"),
                    );
                }
                if matches!(op, "Gt" | "Lt")
                    && let Some(v) = values.filter(|v| v.len() != 1 || !v[0].is_number())
                {
                    let _ = v;
                    r.error(
                        field(&at, "values"),
                        Rule::Type,
                        format!("`{op}` needs exactly one number"),
                    );
                }
            }
            "Exists" | "DoesNotExist" => {
                if values.is_some_and(|v| !v.is_empty()) {
                    r.error(
                        field(&at, "values"),
                        Rule::UnknownField,
                        format!("`{op}` takes no `values`"),
                    );
                }
            }
            _ => {
                if values.is_some() {
                    r.error(
                        field(&at, "values"),
                        Rule::UnknownField,
                        format!("`{op}` takes no `values`, use `itemSelector`"),
                    );
                }
                match item {
                    Some(item) if depth < 4 => {
                        check_selector(r, item, &field(&at, "itemSelector"), depth + 1);
                    }
                    Some(_) => r.error(
                        field(&at, "itemSelector"),
                        Rule::Range,
                        "item selectors nest too deeply",
                    ),
                    None => r.error(
                        field(&at, "itemSelector"),
                        Rule::Required,
                        format!("`{op}` needs `itemSelector`"),
                    ),
                }
            }
        }
    }
}

/// Check the [M]-era `requiredResources` and note that it is converted.
pub(crate) fn check_required_resources(r: &mut Report, m: &Obj, path: &str) {
    r.note(path, Rule::Era, "`requiredResources` is from an older Margo draft; its cpu, memory and storage become `deviceConstraints.capacityRequirements`");
    keys(
        r,
        m,
        path,
        &["cpu", "memory", "storage", "peripherals", "interfaces"],
    );
    check_capacity(r, m, path);
}

/// Rewrite one profile value into the rc.3 form.
pub(crate) fn normalize_profile(p: &mut Map<String, Value>) {
    if let Some(Value::String(t)) = p.get_mut("type")
        && let Some(pt) = ProfileType::parse(t)
    {
        *t = pt.as_str().to_owned();
    }
    if let Some(Value::Object(mut rr)) = p.remove("requiredResources") {
        let mut cap = Map::new();
        for key in ["cpu", "memory", "storage"] {
            if let Some(v) = rr.remove(key) {
                cap.insert(key.to_owned(), v);
            }
        }
        if !p.contains_key("deviceConstraints") && !cap.is_empty() {
            let mut dc = Map::new();
            dc.insert("capacityRequirements".to_owned(), Value::Object(cap));
            p.insert("deviceConstraints".to_owned(), Value::Object(dc));
        }
    }
    if let Some(Value::Array(components)) = p.get_mut("components") {
        for c in components {
            if let Some(Value::Object(props)) = c.get_mut("properties")
                && let Some(Value::String(w)) = props.get("wait")
            {
                let b = w == "true";
                props.insert("wait".to_owned(), Value::Bool(b));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_references_come_from_repository_and_revision() {
        let r = |repo, rev| oci_reference(repo, rev);
        assert_eq!(
            r("oci://127.0.0.1:5000/tools/busybox", Some("1.36")).as_deref(),
            Some("127.0.0.1:5000/tools/busybox:1.36")
        );
        assert_eq!(
            r("oci://reg.example/app", Some("sha256:ab")).as_deref(),
            Some("reg.example/app@sha256:ab")
        );
        assert_eq!(r("https://x/y", None), None);
        assert_eq!(r("oci://", None), None);
        assert_eq!(r("oci://reg/../etc", None), None);
    }

    #[test]
    fn local_paths() {
        assert!(is_local_path("./components/hello.wasm"));
        assert!(is_local_path("components/x"));
        assert!(!is_local_path("../x"));
        assert!(!is_local_path("a/../../x"));
        assert!(!is_local_path("/etc/passwd"));
        assert!(!is_local_path("https://x/y"));
        assert!(!is_local_path(""));
    }

    #[test]
    fn profile_type_spellings() {
        assert_eq!(ProfileType::parse("helm.v3"), Some(ProfileType::Helm));
        assert_eq!(
            ProfileType::parse("docker-compose"),
            Some(ProfileType::Compose)
        );
        assert_eq!(
            ProfileType::parse("wasm").map(ProfileType::is_extension),
            Some(true)
        );
        assert_eq!(
            ProfileType::parse("container").map(ProfileType::is_extension),
            Some(true)
        );
        assert_eq!(ProfileType::parse("kubernetes"), None);
    }
}
