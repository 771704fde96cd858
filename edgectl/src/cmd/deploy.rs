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
        dry_run: args.dry_run,
    };
    // Opened before the change, so no report is missed.
    let events = if args.wait.wait {
        Some(client.events(None)?)
    } else {
        None
    };
    let list: Vec<DeploymentSummary> = client.post(routes::DEPLOYMENTS, &request)?;
    finish(
        client,
        printer,
        &list,
        true,
        args.dry_run,
        &args.wait,
        events,
    )
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
    finish(client, printer, &list, false, c.dry_run, &c.wait, events)
}

/// Say what happened (or would), then wait when asked.
fn finish(
    client: &Client,
    printer: Printer,
    list: &[DeploymentSummary],
    deploying: bool,
    dry_run: bool,
    wait_args: &WaitArgs,
    events: Option<edge_api::events::Events>,
) -> anyhow::Result<()> {
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
    printer.line(&if dry_run {
        format!("dry run, nothing was changed: {what}would be {tally}")
    } else if created + updated == 0 {
        format!(
            "nothing to change: {what}already as asked on {unchanged} device(s) at site {}; no commit made",
            sites.join(", ")
        )
    } else if deploying {
        format!(
            "deployed {what}to {} device(s) at site {} in commit {}: {tally}",
            list.len(),
            sites.join(", "),
            commits.join(", ")
        )
    } else {
        format!(
            "changed {} deployment(s) at site {} in commit {}: {tally}",
            created + updated,
            sites.join(", "),
            commits.join(", ")
        )
    });
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
    Ok(())
}

/// Whether an update changes what runs on the node (and so makes it report);
/// one of labels only does not.
fn touches_node(changes: &[String]) -> bool {
    changes.iter().any(|c| c != "document")
}
