//! `edgectl co remove site NAME` and `edgectl co remove device ID`: remove
//! a site (with its devices) or a device, revoking their identities.
//! Refused by the CO while anything is deployed there, unless `--force`,
//! which undeploys it first. Asks first on a terminal (`--yes` skips the
//! question), saying what `--force` leaves running: the identities go at
//! once, so the LO or the node cannot fetch the removal of its workloads.

use edge_api::Client;
use edge_api::routes::{self, fill};
use edge_api::types::{DeploymentSummary, Device, Removal, Site};

use crate::printer::{Printer, count};

/// The path of a removal, with `?force=true` when forced.
fn path(pattern: &str, name: &str, force: bool) -> String {
    let path = fill(pattern, name);
    if force {
        format!("{path}?force=true")
    } else {
        path
    }
}

/// Print what a removal did.
fn report(printer: Printer, what: &str, r: &Removal) {
    printer.data(r);
    let mut line = format!("{what} removed");
    if r.kind == "site" {
        line.push_str(&format!(
            " with its {}",
            count(r.devices, "device", "devices")
        ));
    }
    line.push_str(&format!(
        "; {} revoked",
        count(r.revoked, "identity", "identities")
    ));
    if !r.undeployed.is_empty() {
        line.push_str(&format!(
            "; {} undeployed first",
            count(r.undeployed.len() as u64, "deployment", "deployments")
        ));
    }
    printer.line(&line);
    if !r.undeployed.is_empty() {
        printer.warn(&format!(
            "the workloads of {what} keep running until stopped there (`edgectl en stop`): locked out, it cannot fetch their removal"
        ));
    }
}

/// What a confirmation says `--force` leaves behind, when it undeploys
/// `deployments`.
fn forced(deployments: usize, who: &str) -> String {
    if deployments == 0 {
        return String::new();
    }
    format!(
        " Its {} are undeployed first, but {who} is locked out at once and cannot fetch that: the workloads keep running until stopped there.",
        count(deployments as u64, "deployment", "deployments")
    )
}

/// Remove site `name`.
pub(crate) fn site(
    client: &Client,
    printer: Printer,
    name: &str,
    force: bool,
    yes: bool,
) -> anyhow::Result<()> {
    let s: Site = client.get(&fill(routes::SITE, name))?;
    let deployed: Vec<DeploymentSummary> = client.get(&format!(
        "{}?site={}",
        routes::DEPLOYMENTS,
        routes::encode(name)
    ))?;
    // Without `--force` the CO refuses a site in use, saying why: nothing
    // to ask.
    if force || deployed.is_empty() {
        super::ask::confirm(
            yes,
            &format!(
                "Remove site `{name}` and its {}, revoking the identities of its LO and devices?{}",
                count(s.devices, "device", "devices"),
                forced(deployed.len(), "its LO")
            ),
        )?;
    }
    let r: Removal = client.delete_json(&path(routes::SITE, name, force))?;
    report(printer, &format!("site `{name}`"), &r);
    Ok(())
}

/// Remove device `id`.
pub(crate) fn device(
    client: &Client,
    printer: Printer,
    id: &str,
    force: bool,
    yes: bool,
) -> anyhow::Result<()> {
    let d: Device = client.get(&fill(routes::DEVICE, id))?;
    if force || d.deployments.is_empty() {
        super::ask::confirm(
            yes,
            &format!(
                "Remove device `{id}` from site `{}`, revoking its identities?{}",
                d.site,
                forced(d.deployments.len(), "the device")
            ),
        )?;
    }
    let r: Removal = client.delete_json(&path(routes::DEVICE, id, force))?;
    report(printer, &format!("device `{id}`"), &r);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_forced_removal_says_what_keeps_running() {
        assert_eq!(super::forced(0, "its LO"), "");
        let text = super::forced(3, "its LO");
        assert!(
            text.contains("Its 3 deployments are undeployed first"),
            "{text}"
        );
        assert!(text.contains("keep running until stopped there"), "{text}");
        assert_eq!(
            super::path(edge_api::routes::DEVICE, "a/b", true),
            "/api/devices/a%2Fb?force=true"
        );
    }
}
