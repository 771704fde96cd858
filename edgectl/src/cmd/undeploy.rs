//! `edgectl co undeploy`: remove one deployment by id, or every deployment of
//! an app at a site (optionally on one device), each a new commit of the
//! site's desired state. Asks first on a terminal; `--wait` follows the
//! devices until each reports the workload removed.

use anyhow::bail;
use edge_api::Client;
use edge_api::routes::{self, fill};
use edge_api::types::{AppDetail, DeploymentSummary};

use super::wait::{Goal, Target, wait};
use crate::cli::UndeployArgs;
use crate::printer::Printer;

/// Run `co undeploy`.
pub(crate) fn undeploy(
    client: &Client,
    printer: Printer,
    args: UndeployArgs,
) -> anyhow::Result<()> {
    let all: Vec<DeploymentSummary> = client.get(routes::DEPLOYMENTS)?;
    let chosen: Vec<DeploymentSummary> = match (&args.id, &args.app, &args.site) {
        (Some(id), _, _) => vec![super::deploy::by_prefix(&all, id)?.clone()],
        (None, Some(app), Some(site)) => {
            // A display name names the same app as its id.
            let detail: AppDetail = client.get(&fill(routes::APP, app))?;
            let list: Vec<DeploymentSummary> = all
                .iter()
                .filter(|d| d.app == detail.id && &d.site == site)
                .filter(|d| args.device.as_ref().is_none_or(|dev| &d.device == dev))
                .cloned()
                .collect();
            if list.is_empty() {
                let on = args
                    .device
                    .as_ref()
                    .map_or_else(String::new, |d| format!(" on device `{d}`"));
                bail!("app `{}` is not deployed at site `{site}`{on}", detail.id);
            }
            list
        }
        _ => {
            let id = super::ask::value_or_choose(
                None,
                "DEPLOYMENT-ID (or --app and --site)",
                "deployment",
                || {
                    Ok(all
                        .iter()
                        .map(|d| {
                            let state = d.state.as_deref().unwrap_or("-");
                            let label = format!(
                                "{}  {} {} at {}/{}  {state}",
                                d.id.get(..8).unwrap_or(&d.id),
                                d.app,
                                d.version,
                                d.site,
                                d.device
                            );
                            (label, d.id.clone())
                        })
                        .collect())
                },
            )?;
            all.iter().filter(|d| d.id == id).cloned().collect()
        }
    };
    let names: Vec<String> = chosen
        .iter()
        .map(|d| format!("{} on {}/{}", d.app, d.site, d.device))
        .collect();
    if args.dry_run {
        for d in &chosen {
            printer.line(&format!(
                "- {} {} {} on {}/{}",
                d.id.get(..8).unwrap_or(&d.id),
                d.app,
                d.version,
                d.site,
                d.device
            ));
        }
        printer.line(&format!(
            "dry run, nothing was changed: would remove {} deployment(s)",
            chosen.len()
        ));
        let ids: Vec<&str> = chosen.iter().map(|d| d.id.as_str()).collect();
        printer.data(&serde_json::json!({ "wouldUndeploy": ids }));
        return Ok(());
    }
    super::ask::confirm(
        args.yes,
        &format!(
            "Remove {} deployment(s): {}?",
            chosen.len(),
            names.join(", ")
        ),
    )?;
    // Opened first, so no report is missed.
    let events = if args.wait.wait {
        Some(client.events(None)?)
    } else {
        None
    };
    for d in &chosen {
        client.delete(&fill(routes::DEPLOYMENT, &d.id))?;
        printer.line(&format!(
            "deployment `{}` ({} on {}) removed from site `{}`'s desired state",
            d.id, d.app, d.device, d.site
        ));
    }
    match events {
        Some(events) => {
            let targets: Vec<Target> = chosen
                .iter()
                .map(|d| Target::new(&d.id, &d.device))
                .collect();
            wait(events, &targets, Goal::Removed, args.wait.timeout, printer)
        }
        None => {
            let ids: Vec<&str> = chosen.iter().map(|d| d.id.as_str()).collect();
            printer.data(&serde_json::json!({ "undeployed": ids }));
            Ok(())
        }
    }
}
