//! Removing a site or a device (`DELETE /api/sites/{site}`,
//! `DELETE /api/devices/{device}`, `edgectl co remove site|device`).
//!
//! Refused (409) while deployments are there, naming how many, unless
//! `force`: then they are removed first, one commit of the site's
//! repository as `co undeploy` makes, and the removal goes on. Refused even
//! with `force` while a rollout that is not over has targets there (it
//! could write deployments back). Then, in an order that a kill -9 between
//! any two steps leaves sound:
//!
//! 1. the intent is recorded (`removals` table);
//! 2. the files leave the workspace (`sites/<site>/devices/<id>.toml`, or
//!    the folder `sites/<site>/`) in one commit; a failed commit puts them
//!    back and forgets the intent;
//! 3. one transaction revokes the identities (the device's; for a site,
//!    its LO's and every device's), drops the reported states and the
//!    rows, and forgets the intent.
//!
//! At start ([`finish_interrupted`], after the index is rebuilt from the
//! workspace, which never brings a removed file back), an intent whose
//! files are gone is finished (step 3), and one whose files are still
//! there is forgotten: the removal did not happen. Index rows whose files
//! are missing without an intent are left alone (a lost workspace must not
//! revoke a fleet).
//!
//! What keeps running: the identities are revoked at once, so a removed
//! device can no longer fetch its manifest, and the LO of a removed site
//! can no longer fetch its repository — nor the commit that removed the
//! deployments. Their workloads keep running as last fetched until they
//! are stopped there (`edgectl en stop`, or the node wiped). To stop them
//! first, undeploy and wait (`edgectl co undeploy … --wait`), then remove.
//! A removed site's repository (`DATA/sites/<site>/`) stays, with its
//! history: a site added again under the name continues it, and its
//! devices' manifest versions keep rising.

use std::fs;
use std::path::Path;

use edge_api::types::Removal;

use super::change::{self, SiteChange};
use super::suggest::{no_device, no_site};
use crate::co::db::deployments::{self as deployments_db, DeploymentRow};
use crate::co::db::removal::{self as db, Intent};
use crate::co::db::sites as sites_db;
use crate::co::store::Store;
use crate::error::ApiError;

/// `n` and its noun, singular for one.
fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Refuse while `deployed` is not empty, unless `force`; and always while a
/// rollout not over has targets at `site` (on `device`).
fn check(
    c: &rusqlite::Connection,
    what: &str,
    site: &str,
    device: Option<&str>,
    deployed: &[DeploymentRow],
    force: bool,
) -> Result<(), ApiError> {
    if let Some(id) = db::rollouts_at(c, site, device)?.first() {
        return Err(ApiError::conflict(format!(
            "rollout {id} is still changing deployments of {what}; wait until it is over (`edgectl co rollout status {id}`) or undo it, then remove {what}"
        )));
    }
    if deployed.is_empty() || force {
        return Ok(());
    }
    let them = if deployed.len() == 1 { "it" } else { "them" };
    Err(ApiError::conflict(format!(
        "{what} has {}; undeploy {them} first, or remove it with `--force`, which undeploys {them} too; nothing was removed",
        count(deployed.len(), "deployment", "deployments")
    )))
}

/// Remove `deployed` from `site`'s desired state in one commit; their ids.
fn undeploy_all(
    store: &Store,
    site: &str,
    deployed: Vec<DeploymentRow>,
    head: &str,
    by: &str,
) -> Result<Vec<String>, ApiError> {
    if deployed.is_empty() {
        return Ok(Vec::new());
    }
    let change = SiteChange {
        drafts: Vec::new(),
        removals: deployed,
    };
    let out = change::commit_site(store, site, change, head, by, false)?;
    Ok(out.into_iter().map(|s| s.id).collect())
}

/// Remove device `device`; with `force`, its deployments first.
pub(crate) fn remove_device(
    store: &Store,
    device: &str,
    force: bool,
    by: &str,
) -> Result<Removal, ApiError> {
    let _w = store.write_lock();
    let conn = store.db();
    let Some(row) = sites_db::device(&conn, device)? else {
        return Err(no_device(
            &conn,
            device,
            None,
            "; `edgectl co list devices` lists them",
        ));
    };
    let site = row.site;
    // A gateway goes after the devices behind it: it is their only client.
    let children = sites_db::children(&conn, device)?;
    if !children.is_empty() {
        return Err(ApiError::conflict(format!(
            "device `{device}` is the gateway of {}; remove those first",
            children
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let deployed: Vec<DeploymentRow> = deployments_db::deployments(&conn, Some(&site))?
        .into_iter()
        .filter(|d| d.device == device)
        .collect();
    let what = format!("device `{device}`");
    check(&conn, &what, &site, Some(device), &deployed, force)?;
    drop(conn);
    let head = format!("remove device {device} from site {site}: undeploy what it runs");
    let undeployed = undeploy_all(store, &site, deployed, &head, by)?;

    let intent = Intent {
        kind: "device".to_owned(),
        name: device.to_owned(),
        site: site.clone(),
    };
    db::begin(&store.db(), &intent, &crate::clock::now())?;
    let devices = store.workspace().join("sites").join(&site).join("devices");
    let file = devices.join(format!("{device}.toml"));
    let saved = fs::read(&file).ok();
    let removed = match fs::remove_file(&file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(anyhow::Error::new(e)),
        _ => store.commit(&format!("remove device {device} from site {site}")),
    };
    if let Err(e) = removed {
        if let Some(bytes) = saved {
            let _ = fs::write(&file, bytes);
        }
        let _ = db::forget(&store.db(), &intent);
        return Err(e.into());
    }
    prune_empty(file.parent(), &devices);
    let revoked = finish(store, &intent)?;
    tracing::info!(device, site, revoked, by, "device removed");
    Ok(Removal {
        kind: intent.kind,
        name: intent.name,
        site,
        devices: 1,
        undeployed,
        revoked: revoked as u64,
    })
}

/// Remove site `site` with its devices; with `force`, its deployments first.
pub(crate) fn remove_site(
    store: &Store,
    site: &str,
    force: bool,
    by: &str,
) -> Result<Removal, ApiError> {
    let _w = store.write_lock();
    let conn = store.db();
    let Some(row) = sites_db::site(&conn, site)? else {
        return Err(no_site(&conn, site, "; `edgectl co list sites` lists them"));
    };
    let deployed = deployments_db::deployments(&conn, Some(site))?;
    let what = format!("site `{site}`");
    check(&conn, &what, site, None, &deployed, force)?;
    drop(conn);
    let head = format!("remove site {site}: undeploy everything it runs");
    let undeployed = undeploy_all(store, site, deployed, &head, by)?;

    let intent = Intent {
        kind: "site".to_owned(),
        name: site.to_owned(),
        site: site.to_owned(),
    };
    db::begin(&store.db(), &intent, &crate::clock::now())?;
    // Moved aside in one step, deleted once the commit holds.
    let dir = store.workspace().join("sites").join(site);
    let aside = store.staging_dir();
    let moved = match fs::rename(&dir, &aside) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            let _ = db::forget(&store.db(), &intent);
            return Err(ApiError::internal(&e.into()));
        }
    };
    let message = format!(
        "remove site {site} with its {}",
        count(
            usize::try_from(row.devices).unwrap_or(0),
            "device",
            "devices"
        )
    );
    if let Err(e) = store.commit(&message) {
        if moved {
            let _ = fs::rename(&aside, &dir);
        }
        let _ = db::forget(&store.db(), &intent);
        return Err(e.into());
    }
    if moved {
        let _ = fs::remove_dir_all(&aside);
    }
    let revoked = finish(store, &intent)?;
    tracing::info!(site, devices = row.devices, revoked, by, "site removed");
    Ok(Removal {
        kind: intent.kind,
        name: intent.name,
        site: site.to_owned(),
        devices: row.devices,
        undeployed,
        revoked: revoked as u64,
    })
}

/// Step 3 of a removal whose files are gone: revoke, drop the rows and the
/// intent in one transaction, then tell (event, the site's LO). How many
/// identities were revoked.
fn finish(store: &Store, intent: &Intent) -> Result<usize, ApiError> {
    let now = crate::clock::now();
    let mut conn = store.db();
    let tx = conn.transaction()?;
    let revoked = if intent.kind == "site" {
        db::drop_site(&tx, &intent.site, &now)?
    } else {
        db::drop_device(&tx, &intent.site, &intent.name, &now)?
    };
    db::forget(&tx, intent)?;
    tx.commit()?;
    drop(conn);
    store.events().publish(
        &format!("{}.removed", intent.kind),
        &intent.name,
        Some(&intent.site),
        serde_json::json!({"revoked": revoked}),
    );
    // The site's LO learns the revocations (a removed site's LO is
    // refused from now on).
    store.changed(&intent.site);
    Ok(revoked)
}

/// At start, under the write lock and after the index is rebuilt: finish
/// each removal whose files are gone, forget each whose files are still
/// there.
pub(crate) fn finish_interrupted(store: &Store) -> anyhow::Result<()> {
    let pending = db::pending(&store.db())?;
    for intent in pending {
        let site_dir = store.workspace().join("sites").join(&intent.site);
        let file = if intent.kind == "site" {
            site_dir.join("site.toml")
        } else {
            site_dir
                .join("devices")
                .join(format!("{}.toml", intent.name))
        };
        if file.exists() {
            tracing::warn!(
                kind = intent.kind,
                name = intent.name,
                "a removal was interrupted before its files went; nothing was removed"
            );
            db::forget(&store.db(), &intent)?;
            continue;
        }
        tracing::warn!(
            kind = intent.kind,
            name = intent.name,
            "finishing a removal interrupted after its files went"
        );
        finish(store, &intent).map_err(|e| anyhow::anyhow!("{}", e.detail()))?;
    }
    Ok(())
}

/// Remove the empty folders from `dir` up to (not including) `top` (what a
/// device id with `/` left).
fn prune_empty(dir: Option<&Path>, top: &Path) {
    let mut dir = dir;
    while let Some(d) = dir {
        if d == top || !d.starts_with(top) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}
