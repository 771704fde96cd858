//! `edgectl co deploy`, `co set` and `co upgrade`: making and changing
//! deployments. All three answer with each deployment and what happened to
//! it (`created`, `updated` with what changed, `unchanged`); `--dry-run`
//! shows that and changes nothing; `--wait` follows the devices until each
//! runs what was asked (a deployment changed in place counts only once its
//! device has reported the change, not the version it had).

use std::collections::BTreeMap;

use anyhow::bail;
use edge_api::Client;
use edge_api::routes;
use edge_api::types::{AppSummary, DeployRequest, DeploymentSummary, Site, UpdateRequest};

use super::co::parse_labels;
use super::wait::{Goal, Target, wait};
use crate::cli::{Choice, DeployArgs, SetArgs, UpgradeArgs, WaitArgs};
use crate::printer::Printer;

/// The deployment `id` names in `all`: its whole id or a unique start of it.
pub(crate) fn by_prefix<'a>(
    all: &'a [DeploymentSummary],
    id: &str,
) -> anyhow::Result<&'a DeploymentSummary> {
    if let Some(d) = all.iter().find(|d| d.id == id) {
        return Ok(d);
    }
    let matches: Vec<&DeploymentSummary> = if id.len() >= 4 {
        all.iter().filter(|d| d.id.starts_with(id)).collect()
    } else {
        Vec::new()
    };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => bail!("no deployment `{id}`; see `edgectl co list deployments`"),
        many => {
            let ids: Vec<&str> = many.iter().map(|d| d.id.as_str()).collect();
            bail!(
                "`{id}` is the start of several deployments ({}); give more of the id",
                ids.join(", ")
            )
        }
    }
}

fn parse_values(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    super::co::parse_pairs(items, "a parameter value; use NAME=VALUE")
}

/// Run `co deploy`.
pub(crate) fn deploy(client: &Client, printer: Printer, args: DeployArgs) -> anyhow::Result<()> {
    let set = parse_values(&args.set)?;
    let app = super::ask::value_or_choose(args.app, "--app", "app", || {
        let apps: Vec<AppSummary> = client.get(routes::APPS)?;
        Ok(apps
            .into_iter()
            .map(|a| {
                (
                    format!("{}  {} ({})", a.id, a.latest, a.profiles.join(", ")),
                    a.id,
                )
            })
            .collect())
    })?;
    let site = super::ask::value_or_choose(args.site, "--site", "site", || {
        let sites: Vec<Site> = client.get(routes::SITES)?;
        Ok(sites
            .into_iter()
            .map(|s| (format!("{}  ({} device(s))", s.name, s.devices), s.name))
            .collect())
    })?;
    let request = DeployRequest {
        app,
        version: args.version,
        site,
        device: args.device,
        selector: parse_labels(&args.selector)?,
        set,
        deploy_type: args.deploy_type,
        name: args.name,
        rollout: args.rollout.policy(),
        dry_run: args.dry_run,
        allow_unreported: args.allow_unreported,
    };
    // Opened before the change, so no report is missed.
    let events = if args.wait.wait {
        Some(client.events(None)?)
    } else {
        None
    };
    let list: Vec<DeploymentSummary> = client.post(routes::DEPLOYMENTS, &request)?;
    let how = How {
        deploying: true,
        dry_run: args.dry_run,
        waved: args.rollout.policy().is_some(),
    };
    finish(client, printer, &list, how, &args.wait, events)
}

/// Run `co set`.
pub(crate) fn set(client: &Client, printer: Printer, args: SetArgs) -> anyhow::Result<()> {
    let (values, ids): (Vec<String>, Vec<String>) =
        args.items.into_iter().partition(|i| i.contains('='));
    if values.is_empty() {
        bail!("no values to set; give them as NAME=VALUE");
    }
    if ids.is_empty() && args.choice.app.is_none() {
        bail!("say which deployments: their ids, or --app with --site (or --all-sites)");
    }
    if !ids.is_empty() && args.choice.app.is_some() {
        bail!("name deployments by id or by --app, not both");
    }
    let request = UpdateRequest {
        ids,
        set: parse_values(&values)?,
        ..choice(&args.choice)?
    };
    update(client, printer, &request, &args.choice)
}

/// Run `co upgrade`.
pub(crate) fn upgrade(client: &Client, printer: Printer, args: UpgradeArgs) -> anyhow::Result<()> {
    if args.choice.app.is_none() {
        bail!("say which app to upgrade: --app, with --site or --all-sites");
    }
    let request = UpdateRequest {
        newest: args.to_version.is_none(),
        version: args.to_version,
        ..choice(&args.choice)?
    };
    update(client, printer, &request, &args.choice)
}

fn choice(c: &Choice) -> anyhow::Result<UpdateRequest> {
    if c.app.is_some() && c.site.is_none() && !c.all_sites {
        bail!("give the app's site with --site, or --all-sites");
    }
    Ok(UpdateRequest {
        app: c.app.clone(),
        site: c.site.clone(),
        all_sites: c.all_sites,
        device: c.device.clone(),
        selector: parse_labels(&c.selector)?,
        rollout: c.rollout.policy(),
        dry_run: c.dry_run,
        ..UpdateRequest::default()
    })
}

fn update(
    client: &Client,
    printer: Printer,
    request: &UpdateRequest,
    c: &Choice,
) -> anyhow::Result<()> {
    let events = if c.wait.wait {
        Some(client.events(None)?)
    } else {
        None
    };
    let list: Vec<DeploymentSummary> = client.post(routes::DEPLOYMENTS_UPDATE, request)?;
    let how = How {
        deploying: false,
        dry_run: c.dry_run,
        waved: c.rollout.policy().is_some(),
    };
    finish(client, printer, &list, how, &c.wait, events)
}

/// Say what happened (or would), then wait when asked.
/// What kind of change `finish` reports on.
#[derive(Debug, Clone, Copy)]
struct How {
    /// `co deploy` (one app, version and profile), not `co set`/`co upgrade`.
    deploying: bool,
    dry_run: bool,
    /// A rollout policy was given.
    waved: bool,
}

fn finish(
    client: &Client,
    printer: Printer,
    list: &[DeploymentSummary],
    how: How,
    wait_args: &WaitArgs,
    events: Option<edge_api::events::Events>,
) -> anyhow::Result<()> {
    let How {
        deploying,
        dry_run,
        waved,
    } = how;
    let count = |k: &str| {
        list.iter()
            .filter(|d| d.change.as_deref() == Some(k))
            .count()
    };
    let (created, updated, unchanged) = (count("created"), count("updated"), count("unchanged"));
    if events.is_none() {
        printer.data(&list);
    }
    let sites: Vec<&str> = {
        let mut s: Vec<&str> = list.iter().map(|d| d.site.as_str()).collect();
        s.dedup();
        s
    };
    let commits: Vec<&str> = {
        let mut c: Vec<&str> = list
            .iter()
            .filter(|d| d.change.as_deref() != Some("unchanged"))
            .map(|d| &d.commit[..d.commit.len().min(12)])
            .filter(|c| !c.is_empty())
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let tally = format!("{created} created, {updated} updated, {unchanged} unchanged");
    // A deploy is one app, version and profile; name them.
    let what = match (deploying, list.first()) {
        (true, Some(d)) => format!("{} {} ({}) ", d.app, d.version, d.profile),
        _ => String::new(),
    };
    // A change the user gave a rollout policy, or that goes out in more
    // than one wave, is followed as a rollout; one of a single wave without
    // a policy reads like any change (and `--wait` waits for each device).
    let rollout = list.iter().find_map(|d| d.rollout.clone());
    let waves = list.iter().filter_map(|d| d.wave).max().unwrap_or(1);
    let waved = rollout.is_some() && (waved || waves > 1);
    let recorded = match (&rollout, waved) {
        (Some(id), false) => format!(" (rollout {id})"),
        _ => String::new(),
    };
    printer.line(&if dry_run {
        format!("dry run, nothing was changed: {what}would be {tally}")
    } else if created + updated + count("removed") == 0 {
        format!(
            "nothing to change: {what}already as asked on {unchanged} device(s) at site {}; no commit made",
            sites.join(", ")
        )
    } else if let (Some(r), true) = (&rollout, waved) {
        format!(
            "rollout {r} changes {} deployment(s) at site {}: {tally}",
            created + updated + count("removed"),
            sites.join(", ")
        )
    } else if deploying {
        format!(
            "deployed {what}to {} device(s) at site {}{}: {tally}{recorded}",
            list.len(),
            sites.join(", "),
            in_commits(&commits)
        )
    } else {
        format!(
            "changed {} deployment(s) at site {}{}: {tally}{recorded}",
            created + updated,
            sites.join(", "),
            in_commits(&commits)
        )
    });
    if let (Some(id), true, false) = (&rollout, waved, dry_run) {
        let first = list.iter().filter(|d| d.wave == Some(1)).count();
        let later = list
            .iter()
            .filter(|d| d.wave.is_some_and(|w| w > 1))
            .count();
        printer.line(&format!(
            "rollout {id}: wave 1 of {waves} sent to {first} device(s){}; {later} more follow as each wave reports healthy",
            in_commits(&commits)
        ));
        if let Some(events) = events {
            change_table(printer, list);
            return super::rollout::follow(client, printer, id, wait_args.timeout, events);
        }
        printer.line(&format!("follow it: edgectl co rollout status {id} --wait"));
    }
    if let Some(events) = events {
        // Deployments left as they were are waited for from the state they
        // report now.
        let now: Vec<DeploymentSummary> = if unchanged > 0 {
            client.get(routes::DEPLOYMENTS)?
        } else {
            Vec::new()
        };
        let targets: Vec<Target> = list
            .iter()
            .map(|d| match d.change.as_deref() {
                Some("updated") => Target {
                    state: Some("updating".into()),
                    fresh: touches_node(&d.changes),
                    ..Target::new(&d.id, &d.device)
                },
                Some("unchanged") => Target {
                    state: now
                        .iter()
                        .find(|n| n.id == d.id)
                        .and_then(|n| n.state.clone()),
                    ..Target::new(&d.id, &d.device)
                },
                _ => Target::new(&d.id, &d.device),
            })
            .collect();
        return wait(
            events,
            &targets,
            Goal::Installed,
            wait_args.timeout,
            printer,
        );
    }
    change_table(printer, list);
    Ok(())
}

/// Each deployment with its change, as a table for people.
pub(crate) fn change_table(printer: Printer, list: &[DeploymentSummary]) {
    let mut rows = super::co::deployment_rows(list);
    for (row, d) in rows.iter_mut().zip(list) {
        let change = d.change.clone().unwrap_or_default();
        row[6] = if d.changes.is_empty() {
            change
        } else {
            format!("{change}: {}", d.changes.join(", "))
        };
    }
    let mut header = super::co::DEPLOYMENT_HEADER;
    header[6] = "CHANGE";
    printer.table(&header, &rows);
}

/// ` in commit …` (none when the first wave of a rollout made no commit).
fn in_commits(commits: &[&str]) -> String {
    if commits.is_empty() {
        String::new()
    } else {
        format!(" in commit {}", commits.join(", "))
    }
}

/// Whether an update changes what runs on the node (and so makes it report);
/// one of labels only does not.
fn touches_node(changes: &[String]) -> bool {
    changes.iter().any(|c| c != "document")
}
