//! The reconcile planner: a pure function from what the manifest asks for
//! (verified deployments, in manifest order) and what the node has applied
//! to the ordered steps that close the gap.
//!
//! Rules (DIGEST §12, §15.2): absence from the manifest is the only removal
//! signal; removals come first (they free resources), components are removed
//! last-installed first; a deployment whose digest changed is installed
//! again in place (the executor replaces only the components whose plan
//! changed, see [`unchanged`]); a deployment whose digest is unchanged but which did not
//! end `installed` is installed again (the executor paces retries);
//! components install in listed order with their `wait` and `timeout`, and
//! each gets the parameter values whose targets name it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use edge_model::status::State;
use edge_model::{ApplicationDeployment, ProfileType};
use serde_json::Value;

/// A deployment the manifest lists, its bytes already verified against `digest`.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Digest of the exact YAML served.
    pub digest: String,
    /// The document.
    pub deployment: ApplicationDeployment,
}

/// What the node has applied for one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Deployment id.
    pub id: String,
    /// Digest of the document it was applied from.
    pub digest: String,
    /// Components in install order, with their last state.
    pub components: Vec<(String, State)>,
}

/// One component to install.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentPlan {
    /// Component name.
    pub name: String,
    /// Which driver runs it.
    pub kind: ProfileType,
    /// Where its artifact is (`oci://…` or a package-local path).
    pub repository: Option<String>,
    /// Artifact tag.
    pub revision: Option<String>,
    /// Finish it before starting the next component (Margo default: true).
    pub wait: bool,
    /// How long installing it may take.
    pub timeout: Option<Duration>,
    /// Parameter values by target pointer (Helm values path, or environment
    /// variable name for the other types).
    pub settings: BTreeMap<String, Value>,
    /// Limits it asks for (memory and fuel of a WebAssembly module).
    pub limits: edge_model::profile::Limits,
    /// Digest of its package-local artifact, when the fleet manager named
    /// one: a new artifact under the same path is a changed component.
    pub artifact: Option<String>,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Stop and remove a deployment's components, in the order given (the
    /// reverse of installation).
    Remove {
        /// Deployment id.
        id: String,
        /// Component names.
        components: Vec<String>,
    },
    /// Install a deployment's components in the order given.
    Install {
        /// Deployment id.
        id: String,
        /// Digest of the document it is installed from.
        digest: String,
        /// Components, in install order.
        components: Vec<ComponentPlan>,
        /// The same document was applied before and did not end installed.
        retry: bool,
    },
}

/// `##m##s` as a duration; `None` when it is not that form.
#[must_use]
pub fn parse_timeout(text: &str) -> Option<Duration> {
    let (m, rest) = text.split_once('m')?;
    let s = rest.strip_suffix('s')?;
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(m) || !all_digits(s) {
        return None;
    }
    let secs = m
        .parse::<u64>()
        .ok()?
        .checked_mul(60)?
        .checked_add(s.parse().ok()?)?;
    Some(Duration::from_secs(secs))
}

/// The components of a deployment as install steps.
#[must_use]
pub fn components(d: &ApplicationDeployment) -> Vec<ComponentPlan> {
    let mut settings: HashMap<&str, BTreeMap<String, Value>> = HashMap::new();
    for p in d.spec.parameters.values() {
        let Some(value) = &p.value else { continue };
        for t in &p.targets {
            for c in &t.components {
                settings
                    .entry(c.as_str())
                    .or_default()
                    .insert(t.pointer.clone(), value.clone());
            }
        }
    }
    let profile = &d.spec.deployment_profile;
    profile
        .components
        .iter()
        .map(|c| ComponentPlan {
            name: c.name.to_string(),
            kind: profile.profile_type,
            repository: c.properties.repository.clone(),
            revision: c.properties.revision.clone(),
            wait: c.properties.wait.unwrap_or(true),
            timeout: c.properties.timeout.as_deref().and_then(parse_timeout),
            settings: settings.remove(c.name.as_str()).unwrap_or_default(),
            limits: c.limits(),
            artifact: c.artifact().map(|a| a.digest.to_string()),
        })
        .collect()
}

fn remove(a: &Applied) -> Step {
    Step::Remove {
        id: a.id.clone(),
        components: a.components.iter().rev().map(|(n, _)| n.clone()).collect(),
    }
}

/// Which components of a deployment being replaced keep running: those
/// installed before whose plan (kind, artifact and its digest, settings,
/// limits, wait, timeout) is the same in the new version. The others of
/// `old` are stopped; the new version's others start, in listed order.
#[must_use]
pub fn unchanged(old: &[(ComponentPlan, State)], new: &[ComponentPlan]) -> Vec<String> {
    new.iter()
        .filter(|n| {
            old.iter()
                .any(|(o, s)| *s == State::Installed && same_work(o, n))
        })
        .map(|n| n.name.clone())
        .collect()
}

/// Whether two plans run the same thing: equal, except that components
/// whose package-local artifact has the same digest are the same whatever
/// their `repository` and `revision` call it (an LO names such an artifact
/// in its registry, so the name changes with its setting or its release
/// while the bytes do not).
fn same_work(a: &ComponentPlan, b: &ComponentPlan) -> bool {
    if a.artifact.is_some() && a.artifact == b.artifact {
        let unnamed = |p: &ComponentPlan| ComponentPlan {
            repository: None,
            revision: None,
            ..p.clone()
        };
        return unnamed(a) == unnamed(b);
    }
    a == b
}

/// The steps that take the node from `applied` to `desired`.
#[must_use]
pub fn plan(desired: &[Desired], applied: &[Applied]) -> Vec<Step> {
    let wanted: HashMap<&str, &Desired> = desired
        .iter()
        .map(|d| (d.deployment.id().as_str(), d))
        .collect();
    let have: HashMap<&str, &Applied> = applied.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut steps: Vec<Step> = applied
        .iter()
        .rev()
        .filter(|a| !wanted.contains_key(a.id.as_str()))
        .map(remove)
        .collect();
    for d in desired {
        let id = d.deployment.id().as_str();
        let install = |retry| Step::Install {
            id: id.to_owned(),
            digest: d.digest.clone(),
            components: components(&d.deployment),
            retry,
        };
        match have.get(id) {
            None => steps.push(install(false)),
            Some(a) if a.digest != d.digest => steps.push(install(false)),
            Some(a)
                if a.components.iter().all(|(_, s)| *s == State::Installed)
                    && !a.components.is_empty() => {}
            Some(_) => steps.push(install(true)),
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_model::MargoDocument as _;

    fn deployment(id: &str, components: &[&str], greeting: &str) -> ApplicationDeployment {
        let comps: String = components
            .iter()
            .map(|c| {
                format!(
                    "      - name: {c}\n        properties:\n          repository: ./components/{c}.wat\n          revision: 1.0.0\n          timeout: 1m30s\n"
                )
            })
            .collect();
        let first = components.first().copied().unwrap_or("x");
        let yaml = format!(
            "apiVersion: application.margo.org/v1alpha1
kind: ApplicationDeployment
metadata:
  annotations:
    id: {id}
    applicationId: hello
  name: hello
  namespace: margo
  deviceId: edge-1
spec:
  applicationId: hello
  deploymentProfile:
    type: wasm
    components:
{comps}  parameters:
    greeting:
      value: {greeting}
      targets:
        - pointer: GREETING
          components: [{first}]
"
        );
        ApplicationDeployment::from_slice(yaml.as_bytes())
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
            .document
    }

    const A: &str = "0b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";
    const B: &str = "1b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";
    const C: &str = "2b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";

    fn desired(id: &str, digest: &str) -> Desired {
        Desired {
            digest: digest.to_owned(),
            deployment: deployment(id, &["first", "second"], "hi"),
        }
    }

    fn applied(id: &str, digest: &str, state: State) -> Applied {
        Applied {
            id: id.to_owned(),
            digest: digest.to_owned(),
            components: vec![("first".into(), state), ("second".into(), state)],
        }
    }

    fn ids(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                Step::Remove { id, .. } => format!("-{}", &id[..1]),
                Step::Install { id, retry, .. } => {
                    format!("+{}{}", &id[..1], if *retry { "!" } else { "" })
                }
            })
            .collect()
    }

    #[test]
    fn new_changed_unchanged_failed_and_absent_deployments() {
        let want = [desired(A, "d1"), desired(B, "d2"), desired(C, "d3")];
        let have = [
            applied(B, "old", State::Installed),
            applied(C, "d3", State::Failed),
            applied(
                "3b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e",
                "x",
                State::Installed,
            ),
            applied(
                "4b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e",
                "y",
                State::Installed,
            ),
        ];
        let steps = plan(&want, &have);
        // Removals first, the last applied first; then manifest order. A
        // changed deployment is installed again in place, with no removal.
        assert_eq!(ids(&steps), ["-4", "-3", "+0", "+1", "+2!"]);
        match &steps[0] {
            Step::Remove { components, .. } => assert_eq!(components, &["second", "first"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_changed_components_are_replaced() {
        let old = components(&deployment(A, &["first", "second", "third"], "hi"));
        let mut new = components(&deployment(A, &["first", "second", "third"], "hi"));
        new[1].artifact = Some("sha256:new".into());
        new[2].settings.insert("X".into(), Value::from(1));
        let installed: Vec<(ComponentPlan, State)> =
            old.iter().map(|p| (p.clone(), State::Installed)).collect();
        assert_eq!(unchanged(&installed, &new), ["first"]);
        // A component that was not running is started again even if unchanged.
        let mut failed = installed.clone();
        failed[0].1 = State::Failed;
        assert!(unchanged(&failed, &new).is_empty());
        // Same plans: everything stays; a component removed from the new
        // version is simply not kept.
        assert_eq!(unchanged(&installed, &old[..2]), ["first", "second"]);
        // The same package-local bytes named in a registry now: kept; a
        // component without a digest whose repository changed: replaced.
        let mut renamed = old.clone();
        renamed[0].artifact = Some("sha256:same".into());
        let mut keep = installed.clone();
        keep[0].0.artifact = Some("sha256:same".into());
        renamed[0].repository = Some("oci://lo.example:7443/app/first".into());
        renamed[0].revision = Some("9.9.9".into());
        renamed[1].repository = Some("oci://elsewhere/app/second".into());
        assert_eq!(unchanged(&keep, &renamed), ["first", "third"]);
    }

    #[test]
    fn nothing_to_do_when_everything_is_installed_from_the_same_bytes() {
        let want = [desired(A, "d1")];
        assert!(plan(&want, &[applied(A, "d1", State::Installed)]).is_empty());
        assert_eq!(
            ids(&plan(&want, &[applied(A, "d1", State::Installing)])),
            ["+0!"]
        );
        assert_eq!(ids(&plan(&[], &[applied(A, "d1", State::Failed)])), ["-0"]);
        assert!(plan(&[], &[]).is_empty());
    }

    #[test]
    fn components_keep_their_order_settings_wait_and_timeout() {
        let Step::Install { components, .. } = &plan(&[desired(A, "d")], &[])[0] else {
            panic!("not an install");
        };
        let names: Vec<&str> = components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["first", "second"]);
        assert_eq!(
            components[0].settings.get("GREETING"),
            Some(&Value::from("hi"))
        );
        assert!(
            components[1].settings.is_empty(),
            "the parameter targets only `first`"
        );
        assert!(
            components
                .iter()
                .all(|c| c.wait && c.kind == ProfileType::Wasm)
        );
        assert_eq!(components[0].timeout, Some(Duration::from_secs(90)));
        assert_eq!(
            components[0].repository.as_deref(),
            Some("./components/first.wat")
        );
    }

    #[test]
    fn timeouts_read_only_the_margo_form() {
        assert_eq!(parse_timeout("0m5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("10m0s"), Some(Duration::from_secs(600)));
        for bad in ["90s", "1m", "m5s", "1m5", "-1m5s", "1m5s ", "", "1h1m1s"] {
            assert_eq!(parse_timeout(bad), None, "{bad}");
        }
    }
}
