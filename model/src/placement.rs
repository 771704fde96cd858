//! Device eligibility (DIGEST §10): can a device, by the capabilities and
//! labels it reported, take a deployment of a profile?
//!
//! [`judge`] asks first whether the device runs the profile's type at all
//! (its `supportedDeploymentTypes`, any era's spelling, with `custom` read
//! as the edgectl types our extension names), then [`fits`]:
//! whether it satisfies the profile's `deviceConstraints`. Capacity is
//! checked first (cores, architecture, memory, storage); rules only when
//! capacity passes. Expressions within a selector are AND, a rule with both
//! selectors needs both, and the list of rules is OR. Strings are compared
//! exactly. The answer names the first requirement that fails and what the
//! device reported.
//!
//! Capacity is what the device reported less what is already promised to
//! the deployments placed on it ([`Committed`], [`judge_beside`]): cores,
//! memory and storage a profile requires stay its own after deployment
//! (DIGEST §15 5.2).

use serde_json::Value;

use crate::capabilities::DeviceCapabilitiesManifest;
use crate::issue::Unfit;
use crate::profile::{
    CapacityRequirements, DeviceConstraints, MatchExpression, Operator, ProfileType, Selector,
};

/// Bytes of a binary quantity such as `512Mi`.
#[must_use]
pub fn quantity_bytes(q: &str) -> Option<u128> {
    let units = [
        ("Ki", 10u32),
        ("Mi", 20),
        ("Gi", 30),
        ("Ti", 40),
        ("Pi", 50),
        ("Ei", 60),
    ];
    let (unit, shift) = units.iter().find(|(u, _)| q.ends_with(u))?;
    let n: u128 = q.strip_suffix(unit)?.parse().ok()?;
    n.checked_mul(1u128 << shift)
}

/// The capacity already promised on a device: the sum of the
/// `capacityRequirements` of the deployments placed on it, and which they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Committed {
    /// Cores.
    pub cores: f64,
    /// Bytes of memory.
    pub memory: u128,
    /// Bytes of storage.
    pub storage: u128,
    /// The deployments that hold any of it, as the caller names them.
    pub holders: Vec<String>,
}

impl Committed {
    /// Count what `who` requires. Quantities that do not read count as
    /// nothing (they were refused at placement, or came from before).
    pub fn add(&mut self, who: &str, need: &CapacityRequirements) {
        let cores = need.cpu.as_ref().map_or(0.0, |c| c.cores.max(0.0));
        let memory = need.memory.as_deref().and_then(quantity_bytes).unwrap_or(0);
        let storage = need
            .storage
            .as_deref()
            .and_then(quantity_bytes)
            .unwrap_or(0);
        if cores == 0.0 && memory == 0 && storage == 0 {
            return;
        }
        self.cores += cores;
        self.memory = self.memory.saturating_add(memory);
        self.storage = self.storage.saturating_add(storage);
        self.holders.push(who.to_owned());
    }

    fn taken(&self, amount: &str) -> String {
        format!(
            ", of which {amount} {} promised to what is placed on it: {}",
            if amount.ends_with('s') || amount.parse::<f64>().is_ok_and(|n| n != 1.0) {
                "are"
            } else {
                "is"
            },
            self.holders.join(", ")
        )
    }
}

/// [`judge`] for a device that already runs the deployments `committed`
/// sums up: the profile's capacity must fit in what is left.
///
/// # Errors
/// The first requirement the device does not meet, and what it reported
/// and has promised.
pub fn judge_beside(
    kind: ProfileType,
    constraints: Option<&DeviceConstraints>,
    caps: &DeviceCapabilitiesManifest,
    committed: &Committed,
) -> Result<(), Unfit> {
    runs(kind, caps)?;
    constraints.map_or(Ok(()), |c| first_unmet(c, caps, committed).map_err(Unfit))
}

/// `bytes` as the largest binary unit that divides it (`1Gi`, `1536Mi`).
fn quantity(bytes: u128) -> String {
    for (unit, shift) in [
        ("Ei", 60u32),
        ("Pi", 50),
        ("Ti", 40),
        ("Gi", 30),
        ("Mi", 20),
        ("Ki", 10),
    ] {
        if bytes >= 1u128 << shift && bytes.is_multiple_of(1u128 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// `Ok` when a device that reported `caps` can take a deployment of type
/// `kind` with `constraints`: it runs the type ([`runs`]), and it fits the
/// constraints ([`fits`]).
///
/// # Errors
/// The first requirement the device does not meet, and what it reported.
pub fn judge(
    kind: ProfileType,
    constraints: Option<&DeviceConstraints>,
    caps: &DeviceCapabilitiesManifest,
) -> Result<(), Unfit> {
    runs(kind, caps)?;
    constraints.map_or(Ok(()), |c| fits(c, caps))
}

/// `Ok` when the device runs deployment type `kind`: it is among its
/// `supportedDeploymentTypes`, our own types read from `custom` and
/// `x-edgectl-extensions` ([`DeviceCapabilitiesManifest::deployment_types`]).
///
/// # Errors
/// The type needed and the types the device reported, in a sentence.
pub fn runs(kind: ProfileType, caps: &DeviceCapabilitiesManifest) -> Result<(), Unfit> {
    let reported = &caps.deployment_types();
    if reported.iter().any(|t| ProfileType::parse(t) == Some(kind)) {
        return Ok(());
    }
    let what = match kind {
        ProfileType::Helm => "Helm is not supported on it".to_owned(),
        other => format!("it does not run `{other}` deployments"),
    };
    let has = if reported.is_empty() {
        "none".to_owned()
    } else {
        reported.join(", ")
    };
    Err(Unfit(format!(
        "{what}: needs deployment type `{kind}`, and its supportedDeploymentTypes are {has}"
    )))
}

/// `Ok` when the device fits, else the failing constraint in a sentence.
///
/// # Errors
/// The first constraint the device does not meet.
pub fn fits(c: &DeviceConstraints, caps: &DeviceCapabilitiesManifest) -> Result<(), Unfit> {
    first_unmet(c, caps, &Committed::default()).map_err(Unfit)
}

fn first_unmet(
    c: &DeviceConstraints,
    caps: &DeviceCapabilitiesManifest,
    committed: &Committed,
) -> Result<(), String> {
    let p = &caps.properties;
    if let Some(cap) = &c.capacity_requirements {
        if let Some(cpu) = &cap.cpu {
            let cores: f64 = p.cpus.iter().map(|c| c.cores).sum();
            if cores - committed.cores < cpu.cores {
                let taken = if committed.cores > 0.0 {
                    committed.taken(&committed.cores.to_string())
                } else {
                    String::new()
                };
                return Err(format!(
                    "capacityRequirements.cpu.cores: needs {} cores, has {cores}{taken}",
                    cpu.cores
                ));
            }
            if !cpu.architectures.is_empty()
                && !p
                    .cpus
                    .iter()
                    .filter_map(|c| c.architecture.as_deref())
                    .any(|a| cpu.architectures.iter().any(|w| w == a))
            {
                return Err(format!(
                    "capacityRequirements.cpu.architectures: needs one of {}",
                    cpu.architectures.join(", ")
                ));
            }
        }
        for (what, need, has, promised) in [
            ("memory", &cap.memory, &p.memory, committed.memory),
            ("storage", &cap.storage, &p.storage, committed.storage),
        ] {
            let Some(need) = need else { continue };
            let ok = match (
                quantity_bytes(need),
                has.as_deref().and_then(quantity_bytes),
            ) {
                (Some(n), Some(h)) => h.saturating_sub(promised) >= n,
                _ => false,
            };
            if !ok {
                let taken = if promised > 0 && has.is_some() {
                    committed.taken(&quantity(promised))
                } else {
                    String::new()
                };
                return Err(format!(
                    "capacityRequirements.{what}: needs {need}, has {}{taken}",
                    has.as_deref().unwrap_or("none reported")
                ));
            }
        }
    }
    if c.eligibility_rules.is_empty() {
        return Ok(());
    }
    let props = serde_json::to_value(p).unwrap_or(Value::Null);
    let labels = serde_json::to_value(&caps.labels).unwrap_or(Value::Null);
    let any = c.eligibility_rules.iter().any(|rule| {
        rule.property_selector
            .as_ref()
            .is_none_or(|s| selector(s, &props, true))
            && rule
                .label_selector
                .as_ref()
                .is_none_or(|s| selector(s, &labels, false))
    });
    if any {
        Ok(())
    } else {
        Err("eligibilityRules: no rule matches the device's properties and labels".into())
    }
}

fn selector(s: &Selector, target: &Value, pointer: bool) -> bool {
    s.match_expressions
        .iter()
        .all(|e| expression(e, target, pointer))
}

fn lookup<'a>(target: &'a Value, key: &str, pointer: bool) -> Option<&'a Value> {
    if pointer {
        target.pointer(key)
    } else {
        target.get(key)
    }
}

fn scalar_in(v: &Value, values: &[Value]) -> bool {
    match v {
        Value::Array(items) => items.iter().any(|i| values.contains(i)),
        other => values.contains(other),
    }
}

fn expression(e: &MatchExpression, target: &Value, pointer: bool) -> bool {
    let found = lookup(target, &e.key, pointer);
    let values = e.values.as_deref().unwrap_or(&[]);
    match e.operator {
        Operator::Exists => found.is_some(),
        Operator::DoesNotExist => found.is_none(),
        Operator::In => found.is_some_and(|v| scalar_in(v, values)),
        Operator::NotIn => found.is_some_and(|v| !scalar_in(v, values)),
        Operator::Gt | Operator::Lt => {
            let (Some(have), Some(limit)) = (
                found.and_then(Value::as_f64),
                values.first().and_then(Value::as_f64),
            ) else {
                return false;
            };
            if e.operator == Operator::Gt {
                have > limit
            } else {
                have < limit
            }
        }
        Operator::ContainsAll | Operator::ContainsAny => {
            let (Some(Value::Array(items)), Some(item)) = (found, &e.item_selector) else {
                return false;
            };
            items.iter().any(|el| {
                let mut exprs = item
                    .match_expressions
                    .iter()
                    .map(|x| expression(x, el, true));
                if e.operator == Operator::ContainsAll {
                    exprs.all(|b| b)
                } else {
                    exprs.any(|b| b)
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MargoDocument as _;

    fn caps() -> DeviceCapabilitiesManifest {
        let json = br#"{"properties": {"id": "d1", "vendor": "Acme", "modelNumber": "m", "serialNumber": "s",
            "cpus": [{"cores": 2, "architecture": "arm64"}, {"cores": 2, "architecture": "arm64"}],
            "memory": "4Gi", "storage": "32Gi", "peripherals": [{"type": "gpu", "manufacturer": "NVIDIA"}],
            "supportedRuntimes": ["oci"], "supportedDeploymentTypes": ["compose"]},
            "labels": {"site.zone": "a", "tier": 2}}"#;
        DeviceCapabilitiesManifest::from_slice(json)
            .unwrap()
            .document
    }

    fn constraints(json: serde_json::Value) -> DeviceConstraints {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_deployment_type_comes_first_and_names_what_was_reported() {
        let c = caps();
        assert!(judge(ProfileType::Compose, None, &c).is_ok());
        let e = judge(ProfileType::Wasm, None, &c).unwrap_err().0;
        assert_eq!(
            e,
            "it does not run `wasm` deployments: needs deployment type `wasm`, and its supportedDeploymentTypes are compose"
        );
        let e = judge(ProfileType::Helm, None, &c).unwrap_err().0;
        assert!(e.starts_with("Helm is not supported on it: "), "{e}");
        // Before capacity: a device that cannot run the type is not measured.
        let big = constraints(serde_json::json!({"capacityRequirements": {"cpu": {"cores": 64}}}));
        let e = judge(ProfileType::Wasm, Some(&big), &c).unwrap_err().0;
        assert!(e.contains("`wasm`"), "{e}");
        let e = judge(ProfileType::Compose, Some(&big), &c).unwrap_err().0;
        assert!(e.starts_with("capacityRequirements.cpu.cores"), "{e}");
        // Any era's spelling counts; a device reporting none runs nothing.
        let mut old = c.clone();
        old.properties.supported_deployment_types = vec!["helm.v3".into()];
        assert!(runs(ProfileType::Helm, &old).is_ok());
        old.properties.supported_deployment_types.clear();
        let e = runs(ProfileType::Helm, &old).unwrap_err().0;
        assert!(e.ends_with("its supportedDeploymentTypes are none"), "{e}");
    }

    #[test]
    fn our_types_place_from_the_extension_and_from_an_earlier_release_s_list() {
        // This release: `custom` in rc.3 words, our types in the extension.
        let mut now = caps();
        now.set_deployment_types(&[
            ProfileType::Compose,
            ProfileType::Wasm,
            ProfileType::Process,
        ]);
        assert_eq!(
            now.properties.supported_deployment_types,
            ["compose", "custom"]
        );
        for t in [
            ProfileType::Compose,
            ProfileType::Wasm,
            ProfileType::Process,
        ] {
            assert!(runs(t, &now).is_ok(), "{t}");
        }
        let e = runs(ProfileType::Container, &now).unwrap_err().0;
        assert!(
            e.ends_with("its supportedDeploymentTypes are compose, wasm, process"),
            "{e}"
        );
        // An earlier release listed them directly: still read.
        let mut before = caps();
        before.properties.supported_deployment_types = vec!["wasm".into(), "process".into()];
        assert!(runs(ProfileType::Process, &before).is_ok());
        assert!(runs(ProfileType::Compose, &before).is_err());
        // Another fleet manager's `custom` without our extension runs none of ours.
        let mut foreign = caps();
        foreign.properties.supported_deployment_types = vec!["custom".into()];
        let e = runs(ProfileType::Process, &foreign).unwrap_err().0;
        assert!(e.ends_with("are custom"), "{e}");
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity_bytes("512Mi"), Some(512 << 20));
        assert_eq!(quantity_bytes("1Ti"), Some(1 << 40));
        assert_eq!(quantity_bytes("12GB"), None);
    }

    #[test]
    fn capacity_is_checked_first_and_named() {
        let c = caps();
        assert!(fits(&constraints(serde_json::json!({"capacityRequirements": {"cpu": {"cores": 4, "architectures": ["arm64"]}, "memory": "4Gi"}})), &c).is_ok());
        let e = fits(
            &constraints(serde_json::json!({"capacityRequirements": {"cpu": {"cores": 4.5}}})),
            &c,
        )
        .unwrap_err()
        .0;
        assert!(e.starts_with("capacityRequirements.cpu.cores"), "{e}");
        let e = fits(&constraints(serde_json::json!({"capacityRequirements": {"cpu": {"cores": 1, "architectures": ["amd64"]}}})), &c).unwrap_err().0;
        assert!(e.contains("architectures"), "{e}");
        let e = fits(
            &constraints(serde_json::json!({"capacityRequirements": {"storage": "1Ti"}})),
            &c,
        )
        .unwrap_err()
        .0;
        assert!(e.contains("storage: needs 1Ti, has 32Gi"), "{e}");
    }

    #[test]
    fn capacity_promised_to_placed_deployments_is_not_offered_again() {
        let c = caps();
        let three = constraints(
            serde_json::json!({"capacityRequirements": {"cpu": {"cores": 3}, "memory": "1Gi"}}),
        );
        let need = three.capacity_requirements.clone().unwrap();
        let mut held = Committed::default();
        assert!(judge_beside(ProfileType::Compose, Some(&three), &c, &held).is_ok());
        held.add("`a` (app x)", &need);
        let e = judge_beside(ProfileType::Compose, Some(&three), &c, &held)
            .unwrap_err()
            .0;
        assert_eq!(
            e,
            "capacityRequirements.cpu.cores: needs 3 cores, has 4, of which 3 are promised to what is placed on it: `a` (app x)"
        );
        // One core and 3Gi are left.
        let one = constraints(
            serde_json::json!({"capacityRequirements": {"cpu": {"cores": 1}, "memory": "3Gi"}}),
        );
        assert!(judge_beside(ProfileType::Compose, Some(&one), &c, &held).is_ok());
        held.add("`b` (app y)", &one.capacity_requirements.clone().unwrap());
        let small = constraints(serde_json::json!({"capacityRequirements": {"memory": "1Ki"}}));
        let e = judge_beside(ProfileType::Compose, Some(&small), &c, &held)
            .unwrap_err()
            .0;
        assert_eq!(
            e,
            "capacityRequirements.memory: needs 1Ki, has 4Gi, of which 4Gi is promised to what is placed on it: `a` (app x), `b` (app y)"
        );
        // What requires nothing holds nothing, and the type still comes first.
        held.add("`c`", &CapacityRequirements::default());
        assert_eq!(held.holders.len(), 2);
        assert!(judge_beside(ProfileType::Wasm, None, &c, &Committed::default()).is_err());
        assert_eq!(quantity(1536 << 20), "1536Mi");
        assert_eq!(quantity(3 << 30), "3Gi");
        assert_eq!(quantity(1000), "1000");
    }

    #[test]
    fn rules_are_or_of_and() {
        let c = caps();
        let gpu = serde_json::json!({"propertySelector": {"matchExpressions": [
            {"key": "/peripherals", "operator": "ContainsAll", "itemSelector": {"matchExpressions": [
                {"key": "/type", "operator": "In", "values": ["gpu"]},
                {"key": "/manufacturer", "operator": "In", "values": ["NVIDIA"]}]}}]}});
        let zone_b = serde_json::json!({"labelSelector": {"matchExpressions": [{"key": "site.zone", "operator": "In", "values": ["b"]}]}});
        let tier = serde_json::json!({"labelSelector": {"matchExpressions": [{"key": "tier", "operator": "Gt", "values": [1]}, {"key": "gone", "operator": "DoesNotExist"}]}});
        assert!(
            fits(
                &constraints(serde_json::json!({"eligibilityRules": [gpu]})),
                &c
            )
            .is_ok()
        );
        assert!(
            fits(
                &constraints(serde_json::json!({"eligibilityRules": [zone_b.clone()]})),
                &c
            )
            .is_err()
        );
        assert!(
            fits(
                &constraints(serde_json::json!({"eligibilityRules": [zone_b, tier]})),
                &c
            )
            .is_ok()
        );
        let vendor = serde_json::json!({"propertySelector": {"matchExpressions": [{"key": "/vendor", "operator": "NotIn", "values": ["Acme"]}]}});
        assert!(
            fits(
                &constraints(serde_json::json!({"eligibilityRules": [vendor]})),
                &c
            )
            .is_err()
        );
    }

    #[test]
    fn every_operator_follows_its_value_rules_and_strings_compare_exactly() {
        let c = caps();
        let label = |op: &str, values: serde_json::Value| {
            let mut e = serde_json::json!({"key": "tier", "operator": op});
            if !values.is_null() {
                e["values"] = values;
            }
            constraints(
                serde_json::json!({"eligibilityRules": [{"labelSelector": {"matchExpressions": [e]}}]}),
            )
        };
        let ok = |d: &DeviceConstraints| fits(d, &c).is_ok();
        // Exists / DoesNotExist take no values.
        assert!(ok(&label("Exists", serde_json::Value::Null)));
        assert!(!ok(&label("DoesNotExist", serde_json::Value::Null)));
        // Gt / Lt: one number, compared as a number.
        assert!(ok(&label("Lt", serde_json::json!([3]))));
        assert!(!ok(&label("Lt", serde_json::json!([2]))));
        assert!(!ok(&label("Gt", serde_json::json!([2]))));
        // In with a number: by value, not by its text.
        assert!(ok(&label("In", serde_json::json!([2]))));
        assert!(!ok(&label("In", serde_json::json!(["2"]))));
        // Strings compare exactly: case matters.
        let zone = |v: &str| {
            constraints(
                serde_json::json!({"eligibilityRules": [{"labelSelector": {"matchExpressions": [{"key": "site.zone", "operator": "In", "values": [v]}]}}]}),
            )
        };
        assert!(ok(&zone("a")));
        assert!(!ok(&zone("A")));
        // A boolean property, by In.
        let mut with_bool = c.clone();
        with_bool
            .labels
            .insert("gpu".into(), serde_json::json!(true));
        let gpu = |v: serde_json::Value| {
            constraints(
                serde_json::json!({"eligibilityRules": [{"labelSelector": {"matchExpressions": [{"key": "gpu", "operator": "In", "values": [v]}]}}]}),
            )
        };
        assert!(fits(&gpu(serde_json::json!(true)), &with_bool).is_ok());
        assert!(fits(&gpu(serde_json::json!("true")), &with_bool).is_err());
        // ContainsAny: one element matching any one expression is enough;
        // ContainsAll needs one element matching them all.
        let peripherals = |op: &str| {
            constraints(
                serde_json::json!({"eligibilityRules": [{"propertySelector": {"matchExpressions": [
            {"key": "/peripherals", "operator": op, "itemSelector": {"matchExpressions": [
                {"key": "/type", "operator": "In", "values": ["camera"]},
                {"key": "/manufacturer", "operator": "In", "values": ["NVIDIA"]}]}}]}}]}),
            )
        };
        assert!(ok(&peripherals("ContainsAny")));
        assert!(!ok(&peripherals("ContainsAll")));
    }
}
