//! `edgectl co apply` and `co diff`: the fleet's desired deployments kept in
//! files, and the changes that make the CO match them. Files are read here
//! (bounded, through the model's loader) and every problem of every file is
//! listed with the file and field before anything is sent; the CO checks
//! what only it can (apps, versions, values, devices) and answers with
//! every change, which `co diff` and `--dry-run` print without making.
//!
//! A file:
//!
//! ```yaml
//! apiVersion: edgectl.io/v1
//! kind: Deployments
//! deployments:
//!   - app: hello-wasm           # id or display name
//!     site: plant-1
//!     version: 1.1.0            # default: the newest
//!     devices: [edge-1, edge-2] # or selector: {line: "2"}; neither: every device that fits
//!     name: line-2              # optional, to run more than one of the app on a device
//!     profile: wasm             # default: the app's first
//!     parameters: {greeting: hi}
//! rollout:                      # optional: how the changes go out
//!   waves: [1, 10%, 100%]       # or batch: 5
//!   maxFailures: 0              # a count or a share
//!   autoRollback: true
//!   waveTimeout: 10m
//! ```
//!
//! Files that give a rollout policy must agree; the command's own flags
//! (`--waves`, …) win over the files'.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use edge_api::Client;
use edge_api::routes;
use edge_api::types::{ApplyEntry, ApplyRequest, DeploymentSummary, RolloutPolicy};
use serde_json::Value;

use crate::printer::Printer;

/// Most files one apply reads.
const MAX_FILES: usize = 1000;
/// The kind and version a file must say, when it says one.
const API_VERSION: &str = "edgectl.io/v1";
const KIND: &str = "Deployments";
const FIELDS: [&str; 8] = [
    "app",
    "site",
    "version",
    "devices",
    "selector",
    "name",
    "profile",
    "parameters",
];

/// The files `paths` name: files as given, folders' `.yaml`, `.yml` and
/// `.json` files at any depth (hidden ones left out), sorted.
fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the folder `{}`", dir.display()))?
            .flatten()
            .collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = e.file_type()?;
            if kind.is_dir() {
                walk(&p, out)?;
            } else if kind.is_file()
                && p.extension()
                    .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
        if out.len() > MAX_FILES {
            bail!("more than {MAX_FILES} files; apply them in parts");
        }
    }
    if out.is_empty() {
        bail!("no desired-deployment files (.yaml, .yml, .json) found");
    }
    Ok(out)
}

/// A scalar as the text `--set` would give.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The entries of one file's tree; the problems go to `problems` as
/// `FILE: FIELD: what`.
pub(crate) fn entries_of(file: &str, doc: &Value, problems: &mut Vec<String>) -> Vec<ApplyEntry> {
    let mut bad = |field: &str, what: &str| problems.push(format!("{file}: {field}: {what}"));
    let Some(top) = doc.as_object() else {
        bad("(top)", "must be a mapping with `deployments`");
        return Vec::new();
    };
    for (k, v) in top {
        match (k.as_str(), v.as_str()) {
            ("apiVersion", Some(API_VERSION))
            | ("kind", Some(KIND))
            | ("deployments" | "rollout", _) => {}
            ("apiVersion", _) => bad("apiVersion", &format!("must be `{API_VERSION}`")),
            ("kind", _) => bad("kind", &format!("must be `{KIND}`")),
            _ => bad(k, "unknown field (apiVersion, kind, deployments, rollout)"),
        }
    }
    let Some(list) = top.get("deployments").and_then(Value::as_array) else {
        bad("deployments", "required: a list of desired deployments");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = format!("deployments[{i}]");
        let Some(m) = item.as_object() else {
            bad(&at, "must be a mapping");
            continue;
        };
        let mut wrong = Vec::new();
        let entry = entry_of(&format!("{file}: {at}"), m, &mut wrong);
        for (field, what) in &wrong {
            bad(&format!("{at}{field}"), what);
        }
        if wrong.is_empty() {
            out.push(entry);
        }
    }
    out
}

/// The rollout policy a file gives (`rollout:`), if any; its problems go
/// to `problems` as `FILE: rollout.FIELD: what`.
pub(crate) fn policy_of(
    file: &str,
    doc: &Value,
    problems: &mut Vec<String>,
) -> Option<RolloutPolicy> {
    let v = doc.get("rollout")?;
    let mut bad =
        |field: &str, what: &str| problems.push(format!("{file}: rollout{field}: {what}"));
    let Some(m) = v.as_object() else {
        bad(
            "",
            "must be a mapping (waves, batch, maxFailures, autoRollback, waveTimeout)",
        );
        return None;
    };
    let mut p = RolloutPolicy::default();
    for (k, v) in m {
        let field = format!(".{k}");
        match k.as_str() {
            "waves" => match v {
                Value::Array(a) => {
                    for w in a {
                        match text(w) {
                            Some(t) if !w.is_boolean() => p.waves.push(t),
                            _ => bad(&field, "each wave is a count or a share, like 1 or 10%"),
                        }
                    }
                }
                Value::String(t) => p.waves.extend(t.split(',').map(|w| w.trim().to_owned())),
                _ => bad(
                    &field,
                    "must be a list of counts or shares, like [1, 10%, 100%]",
                ),
            },
            "batch" => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => p.batch = Some(n),
                None => bad(&field, "must be a count of devices"),
            },
            "maxFailures" => match text(v).filter(|_| !v.is_boolean()) {
                Some(t) => p.max_failures = Some(t),
                None => bad(&field, "must be a count or a share, like 2 or 5%"),
            },
            "autoRollback" => match v.as_bool() {
                Some(b) => p.auto_rollback = b,
                None => bad(&field, "must be true or false"),
            },
            "waveTimeout" => match text(v).map(|t| crate::cli::parse_duration(&t)) {
                Some(Ok(d)) => p.wave_timeout_secs = Some(d.as_secs()),
                Some(Err(e)) => bad(&field, &e),
                None => bad(&field, "must be a duration, like 90s, 10m or 1h"),
            },
            _ => bad(
                &field,
                "unknown field (waves, batch, maxFailures, autoRollback, waveTimeout)",
            ),
        }
    }
    Some(p)
}

/// One entry; its problems as (`.field`, what) in `wrong`.
fn entry_of(
    source: &str,
    m: &serde_json::Map<String, Value>,
    wrong: &mut Vec<(String, String)>,
) -> ApplyEntry {
    let mut entry = ApplyEntry {
        source: source.to_owned(),
        ..ApplyEntry::default()
    };
    for (k, v) in m {
        let field = format!(".{k}");
        match k.as_str() {
            "app" | "site" | "name" | "profile" | "version" => {
                match text(v).filter(|s| !s.is_empty() && !v.is_boolean()) {
                    Some(s) => match k.as_str() {
                        "app" => entry.app = s,
                        "site" => entry.site = s,
                        "name" => entry.name = Some(s),
                        "profile" => entry.deploy_type = Some(s),
                        _ => entry.version = Some(s),
                    },
                    None => wrong.push((field, "must be a non-empty string".into())),
                }
            }
            "devices" => match v {
                Value::String(s) => entry.devices.push(s.clone()),
                Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_string) => entry
                    .devices
                    .extend(a.iter().filter_map(|d| d.as_str().map(str::to_owned))),
                _ => wrong.push((
                    field,
                    "must be a device id or a non-empty list of them".into(),
                )),
            },
            "selector" | "parameters" => {
                let Some(map) = v.as_object() else {
                    wrong.push((field, "must be a mapping".into()));
                    continue;
                };
                for (name, value) in map {
                    match text(value) {
                        Some(t) if k == "selector" => {
                            entry.selector.insert(name.clone(), t);
                        }
                        Some(t) => {
                            entry.set.insert(name.clone(), t);
                        }
                        None => wrong.push((
                            format!("{field}.{name}"),
                            "must be a string, number or boolean".into(),
                        )),
                    }
                }
            }
            _ => wrong.push((field, format!("unknown field ({})", FIELDS.join(", ")))),
        }
    }
    for req in ["app", "site"] {
        if !m.contains_key(req) {
            wrong.push((format!(".{req}"), "required".into()));
        }
    }
    if !entry.devices.is_empty() && !entry.selector.is_empty() {
        wrong.push((
            String::new(),
            "give `devices` or `selector`, not both".into(),
        ));
    }
    entry
}

/// Read `paths` into one request, or fail listing every problem. The
/// rollout policy is `flags`, else the one the files agree on.
fn request(
    paths: &[PathBuf],
    prune: bool,
    dry_run: bool,
    flags: Option<RolloutPolicy>,
) -> anyhow::Result<ApplyRequest> {
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    let mut policy: Option<(String, RolloutPolicy)> = None;
    for path in files(paths)? {
        let name = path.display().to_string();
        let bytes = match edge_workspace::read_bounded(&path) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        match edge_model::load::parse_value(&bytes) {
            Ok((doc, _)) => {
                entries.extend(entries_of(&name, &doc, &mut problems));
                if let Some(p) = policy_of(&name, &doc, &mut problems) {
                    match &policy {
                        Some((first, q)) if *q != p => problems.push(format!(
                            "{name}: rollout: differs from the one in {first}; give one policy"
                        )),
                        Some(_) => {}
                        None => policy = Some((name.clone(), p)),
                    }
                }
            }
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} problem(s) in the files; nothing was sent:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(ApplyRequest {
        entries,
        prune,
        rollout: flags.or(policy.map(|(_, p)| p)),
        dry_run,
        allow_unreported: false,
    })
}

/// Run `co apply`.
pub(crate) fn apply(
    client: &Client,
    printer: Printer,
    paths: &[PathBuf],
    prune: bool,
    dry_run: bool,
    rollout: Option<RolloutPolicy>,
    allow_unreported: bool,
) -> anyhow::Result<()> {
    let req = ApplyRequest {
        allow_unreported,
        ..request(paths, prune, dry_run, rollout)?
    };
    let list: Vec<DeploymentSummary> = client.post(routes::APPLY, &req)?;
    printer.data(&list);
    print_changes(printer, &list, dry_run);
    Ok(())
}

/// Run `co diff`: what `co apply` would change (its dry run).
pub(crate) fn diff(
    client: &Client,
    printer: Printer,
    paths: &[PathBuf],
    prune: bool,
    allow_unreported: bool,
) -> anyhow::Result<()> {
    apply(client, printer, paths, prune, true, None, allow_unreported)
}

/// One line per change, then the tally.
fn print_changes(printer: Printer, list: &[DeploymentSummary], dry_run: bool) {
    let mut counts = [0usize; 4];
    for d in list {
        let (mark, slot) = match d.change.as_deref() {
            Some("created") => ('+', 0),
            Some("updated") => ('~', 1),
            Some("removed") => ('-', 2),
            _ => {
                counts[3] += 1;
                continue;
            }
        };
        counts[slot] += 1;
        let name = d
            .name
            .as_ref()
            .map_or_else(String::new, |n| format!(" ({n})"));
        let what = if d.changes.is_empty() {
            String::new()
        } else {
            format!(": {}", d.changes.join(", "))
        };
        let id = if d.change.as_deref() == Some("created") && dry_run {
            "(new)".to_owned()
        } else {
            d.id.get(..8).unwrap_or(&d.id).to_owned()
        };
        printer.line(&format!(
            "{mark} {id} {} {}{name} on {}/{}{what}",
            d.app, d.version, d.site, d.device
        ));
    }
    let [created, updated, removed, unchanged] = counts;
    let tally = format!(
        "{created} to create, {updated} to update, {removed} to remove, {unchanged} unchanged"
    );
    let mut commits: Vec<&str> = list
        .iter()
        .filter(|d| d.change.as_deref() != Some("unchanged") && !d.commit.is_empty())
        .map(|d| d.commit.get(..12).unwrap_or(&d.commit))
        .collect();
    commits.sort_unstable();
    commits.dedup();
    printer.line(&if created + updated + removed == 0 {
        format!("no changes: the deployments match the files ({unchanged} unchanged)")
    } else if dry_run {
        format!("dry run, nothing was changed: {tally}")
    } else {
        format!(
            "applied in commit {}: {}",
            commits.join(", "),
            tally
                .replace("to create", "created")
                .replace("to update", "updated")
                .replace("to remove", "removed")
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> (Vec<ApplyEntry>, Vec<String>) {
        let (doc, _) = edge_model::load::parse_value(yaml.as_bytes()).unwrap();
        let mut problems = Vec::new();
        let e = entries_of("f.yaml", &doc, &mut problems);
        (e, problems)
    }

    #[test]
    fn entries_are_read_with_their_source_and_values_as_text() {
        let (e, p) = parse(
            "apiVersion: edgectl.io/v1\nkind: Deployments\ndeployments:\n  - {app: hello, site: s1, devices: d1, parameters: {n: 3, on: true, g: hi}}\n  - {app: hello, site: s2, selector: {line: 2}, version: 1.1.0, name: two}\n",
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(e[0].source, "f.yaml: deployments[0]");
        assert_eq!(e[0].devices, ["d1"]);
        assert_eq!(e[0].set["n"], "3");
        assert_eq!(e[0].set["on"], "true");
        assert_eq!(e[1].selector["line"], "2");
        assert_eq!(
            (e[1].version.as_deref(), e[1].name.as_deref()),
            (Some("1.1.0"), Some("two"))
        );
    }

    #[test]
    fn every_problem_is_listed_with_its_file_and_field() {
        let (e, p) = parse(
            "kind: Other\nextra: 1\ndeployments:\n  - {site: s1, devices: [], colour: red}\n  - {app: a, site: s, devices: [d], selector: {x: y}, parameters: {g: [1]}}\n  - 7\n",
        );
        assert!(e.is_empty());
        for want in [
            "f.yaml: kind: must be `Deployments`",
            "f.yaml: extra: unknown field",
            "f.yaml: deployments[0].devices: must be a device id or a non-empty list",
            "f.yaml: deployments[0].colour: unknown field",
            "f.yaml: deployments[0].app: required",
            "f.yaml: deployments[1]: give `devices` or `selector`, not both",
            "f.yaml: deployments[1].parameters.g: must be a string, number or boolean",
            "f.yaml: deployments[2]: must be a mapping",
        ] {
            assert!(
                p.iter().any(|l| l.starts_with(want)),
                "{want} not in {p:#?}"
            );
        }
        let (_, p) = parse("deployments: 3\n");
        assert_eq!(
            p,
            ["f.yaml: deployments: required: a list of desired deployments"]
        );
    }
}
