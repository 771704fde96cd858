//! `edgectl co rollback`: put a site's desired state back to an earlier
//! commit. What will change is asked of the CO first (a dry run) and printed,
//! deployment by deployment — created, updated with what changes, removed,
//! skipped with why — before the question on a terminal, and the same way
//! without one or with `--yes`; then the rollback is made. Nothing to change
//! asks nothing and makes no commit.

use edge_api::Client;
use edge_api::routes::{self, fill};
use edge_api::types::{DeploymentSummary, RollbackRequest};

use crate::printer::Printer;

/// Run `co rollback`.
pub(crate) fn rollback(
    client: &Client,
    printer: Printer,
    site: &str,
    to: &str,
    dry_run: bool,
    yes: bool,
) -> anyhow::Result<()> {
    let path = fill(routes::SITE_ROLLBACK, site);
    let plan: Vec<DeploymentSummary> = client.post(
        &path,
        &RollbackRequest {
            to: to.to_owned(),
            dry_run: true,
        },
    )?;
    let tally = tally(&plan);
    let changes = count(&plan, "created") + count(&plan, "updated") + count(&plan, "removed");
    if changes == 0 {
        printer.data(&plan);
        printer.line(&format!(
            "nothing to change: site `{site}` already holds the desired state of {to} ({tally}); no commit made"
        ));
        super::deploy::change_table(printer, &plan);
        return Ok(());
    }
    if dry_run {
        printer.data(&plan);
        printer.line(&format!(
            "dry run, nothing was changed: rolling site `{site}` back to {to} would be {tally}"
        ));
        super::deploy::change_table(printer, &plan);
        return Ok(());
    }
    printer.line(&format!(
        "rolling site `{site}` back to {to} changes {changes} deployment(s): {tally}"
    ));
    super::deploy::change_table(printer, &plan);
    super::ask::confirm(
        yes,
        &format!("Roll site `{site}` back to {to} as shown above?"),
    )?;
    let done: Vec<DeploymentSummary> = client.post(
        &path,
        &RollbackRequest {
            to: to.to_owned(),
            dry_run: false,
        },
    )?;
    printer.data(&done);
    let commit = done
        .iter()
        .find(|d| d.change.as_deref() != Some("unchanged") && !d.commit.is_empty())
        .map(|d| &d.commit[..d.commit.len().min(12)]);
    printer.line(&format!(
        "site `{site}` is back at the desired state of {to}{}: {}",
        commit
            .map(|c| format!(" in commit {c}"))
            .unwrap_or_default(),
        self::tally(&done)
    ));
    let what = |list: &[DeploymentSummary]| {
        let mut v: Vec<(String, Option<String>, Vec<String>)> = list
            .iter()
            .map(|d| (d.id.clone(), d.change.clone(), d.changes.clone()))
            .collect();
        v.sort();
        v
    };
    if what(&done) != what(&plan) {
        // Something changed at the site between the plan and the rollback.
        printer.line("what was done differs from the plan shown above:");
        super::deploy::change_table(printer, &done);
    }
    Ok(())
}

fn count(list: &[DeploymentSummary], change: &str) -> usize {
    list.iter()
        .filter(|d| d.change.as_deref() == Some(change))
        .count()
}

/// `1 created, 0 updated, 1 removed, 2 unchanged` (and `, 1 skipped`).
fn tally(list: &[DeploymentSummary]) -> String {
    let mut out = format!(
        "{} created, {} updated, {} removed, {} unchanged",
        count(list, "created"),
        count(list, "updated"),
        count(list, "removed"),
        count(list, "unchanged")
    );
    let skipped = count(list, "skipped");
    if skipped > 0 {
        out.push_str(&format!(", {skipped} skipped"));
    }
    out
}
