//! Sites and devices: create, list, show and label them. Each change is
//! written to the workspace (`sites/<site>/site.toml`,
//! `sites/<site>/devices/<device>.toml`), committed, and indexed; the index
//! is rebuilt from those files after a crash ([`reindex`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use edge_api::types::{CreateDevice, CreateSite, Device, DeviceIdentity, Site};
use edge_model::DeviceId;
use serde::Serialize;

use crate::co::db::deployments::device_deployments;
use crate::co::db::identities::{IdentityRow, newest_of_devices};
use crate::co::db::sites::{self as db, DeviceRow, SiteRow};
use crate::co::ops::suggest::{no_device, no_site};
use crate::co::store::Store;
use crate::error::ApiError;

/// A site or device file as read back at start.
#[derive(serde::Deserialize)]
struct StoredFile {
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Index sites and devices found in the workspace but missing from the
/// database (after the database was lost or a crash came between commit and
/// index). Called at start, under the write lock.
pub(crate) fn reindex(store: &Store) -> rusqlite::Result<()> {
    let conn = store.db();
    let sites_dir = store.workspace().join("sites");
    for entry in fs::read_dir(&sites_dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(text) = fs::read_to_string(entry.path().join("site.toml")) else {
            continue;
        };
        let Ok(file) = toml::from_str::<StoredFile>(&text) else {
            tracing::warn!(
                site = name,
                "site.toml does not read; left out of the index"
            );
            continue;
        };
        if db::site(&conn, &name)?.is_none() {
            tracing::warn!(site = name, "indexing a site found in the workspace");
            db::insert_site(&conn, &name, &file.labels, &crate::clock::now())?;
        }
        let devices = entry.path().join("devices");
        let mut stack = vec![devices.clone()];
        while let Some(d) = stack.pop() {
            for f in fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = f.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Some(rel) = path
                    .strip_prefix(&devices)
                    .ok()
                    .and_then(|r| r.to_str())
                    .and_then(|r| r.strip_suffix(".toml"))
                else {
                    continue;
                };
                let id = rel.to_owned();
                if !DeviceId::is_valid(&id) || db::device(&conn, &id)?.is_some() {
                    continue;
                }
                let Ok(file) = fs::read_to_string(&path)
                    .map_err(|_| ())
                    .and_then(|t| toml::from_str::<StoredFile>(&t).map_err(|_| ()))
                else {
                    continue;
                };
                tracing::warn!(
                    device = id,
                    site = name,
                    "indexing a device found in the workspace"
                );
                db::insert_device(
                    &conn,
                    &DeviceRow {
                        id,
                        site: name.clone(),
                        labels: file.labels,
                        capabilities: None,
                        last_heard: None,
                        created_at: crate::clock::now(),
                    },
                )?;
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct SiteFile<'a> {
    name: &'a str,
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct DeviceFile<'a> {
    id: &'a str,
    site: &'a str,
    labels: &'a BTreeMap<String, String>,
}

fn check_site_name(name: &str) -> Result<(), ApiError> {
    if name == "co" {
        return Err(ApiError::bad_request(
            "`co` is reserved (it names the central orchestrator's own identity); choose another site name",
        ));
    }
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "`{name}` is not a site name: use 1 to 64 letters, digits, `-`, `_` and `.`, not starting with `.`"
        )))
    }
}

fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in labels {
        let key_ok = !k.is_empty()
            && k.len() <= 253
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
        if !key_ok {
            return Err(ApiError::bad_request(format!(
                "label key `{k}` is not valid: use letters, digits, `-`, `_`, `.` and `/`"
            )));
        }
        if v.len() > 1024 || v.chars().any(char::is_control) {
            return Err(ApiError::bad_request(format!(
                "label `{k}` has a value that is too long or holds control characters"
            )));
        }
    }
    Ok(())
}

fn write_toml<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("toml.tmp");
    fs::write(&tmp, toml::to_string(value)?)?;
    fs::rename(&tmp, path)?;
    Ok(())
}

fn site_view(r: SiteRow) -> Site {
    Site {
        name: r.name,
        labels: r.labels,
        devices: r.devices,
        created_at: r.created_at,
    }
}

/// Device `r` as the API shows it, with its newest identity among
/// `identities` (by device id).
fn device_view(
    store: &Store,
    r: DeviceRow,
    identities: &std::collections::HashMap<String, IdentityRow>,
) -> Result<Device, ApiError> {
    let deployments = device_deployments(&store.db(), &r.id)?;
    let identity = identities
        .get(&r.id)
        .filter(|i| i.site == r.site)
        .map(identity_view);
    Ok(Device {
        identity,
        capabilities: r
            .capabilities
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok()),
        id: r.id,
        site: r.site,
        labels: r.labels,
        last_heard: r.last_heard,
        deployments,
        created_at: r.created_at,
    })
}

/// An issued identity as the API shows it, with its state now.
fn identity_view(i: &IdentityRow) -> DeviceIdentity {
    let state = if i.revoked_at.is_some() {
        "revoked"
    } else if i.not_after < crate::clock::now() {
        "expired"
    } else {
        "valid"
    };
    DeviceIdentity {
        state: state.to_owned(),
        spiffe_id: i.spiffe_id.clone(),
        issued_at: i.issued_at.clone(),
        valid_until: i.not_after.clone(),
        revoked_at: i.revoked_at.clone(),
    }
}

/// Every site.
pub(crate) fn list_sites(store: &Store) -> Result<Vec<Site>, ApiError> {
    Ok(db::sites(&store.db())?.into_iter().map(site_view).collect())
}

/// Most site names a "no such site" answer lists.
const NAMED: usize = 20;

/// `Ok` when `site` exists; else a 404 naming it and the sites there are.
pub(crate) fn known_site(store: &Store, site: &str) -> Result<(), ApiError> {
    let rows = db::sites(&store.db())?;
    if rows.iter().any(|r| r.name == site) {
        return Ok(());
    }
    let names: Vec<&str> = rows.iter().take(NAMED).map(|r| r.name.as_str()).collect();
    let known = match rows.len() {
        0 => "there are no sites yet".to_owned(),
        n if n > NAMED => format!("the sites are {}, and {} more", names.join(", "), n - NAMED),
        _ => format!("the sites are {}", names.join(", ")),
    };
    Err(ApiError::not_found(format!("no site `{site}`; {known}")))
}

/// Create a site.
pub(crate) fn create_site(store: &Store, req: &CreateSite) -> Result<Site, ApiError> {
    check_site_name(&req.name)?;
    check_labels(&req.labels)?;
    let _w = store.write_lock();
    let conn = store.db();
    if db::site(&conn, &req.name)?.is_some() {
        return Err(ApiError::conflict(format!(
            "site `{}` exists already",
            req.name
        )));
    }
    let file = store
        .workspace()
        .join("sites")
        .join(&req.name)
        .join("site.toml");
    write_toml(
        &file,
        &SiteFile {
            name: &req.name,
            labels: &req.labels,
        },
    )?;
    if let Err(e) = store.commit(&format!("add site {}", req.name)) {
        let _ = fs::remove_dir_all(store.workspace().join("sites").join(&req.name));
        return Err(e.into());
    }
    db::insert_site(&conn, &req.name, &req.labels, &crate::clock::now())?;
    store.events().publish(
        "site.added",
        &req.name,
        Some(&req.name),
        serde_json::json!({}),
    );
    let row =
        db::site(&conn, &req.name)?.ok_or_else(|| ApiError::not_found("the site vanished"))?;
    Ok(site_view(row))
}

/// One site.
pub(crate) fn show_site(store: &Store, site: &str) -> Result<Site, ApiError> {
    let conn = store.db();
    match db::site(&conn, site)? {
        Some(row) => Ok(site_view(row)),
        None => Err(no_site(&conn, site, "; `edgectl co list sites` lists them")),
    }
}

/// Replace a site's labels.
pub(crate) fn label_site(
    store: &Store,
    site: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Site, ApiError> {
    check_labels(labels)?;
    let _w = store.write_lock();
    let conn = store.db();
    let Some(before) = db::site(&conn, site)? else {
        return Err(no_site(&conn, site, ""));
    };
    write_toml(
        &store.workspace().join("sites").join(site).join("site.toml"),
        &SiteFile { name: site, labels },
    )?;
    store.commit(&format!("label site {site}"))?;
    db::set_site_labels(&conn, site, labels)?;
    let row = db::site(&conn, site)?.ok_or_else(|| ApiError::not_found("the site vanished"))?;
    drop(conn);
    publish_labels(store, "site.updated", site, site, &before.labels, labels);
    Ok(site_view(row))
}

/// Every device, or those of `site`.
pub(crate) fn list_devices(store: &Store, site: Option<&str>) -> Result<Vec<Device>, ApiError> {
    let rows = db::devices(&store.db(), site)?;
    let identities = newest_of_devices(&store.db(), site)?;
    rows.into_iter()
        .map(|r| device_view(store, r, &identities))
        .collect()
}

/// A child behind a see-thru gateway (`gw-1/cam-2`) is registered only
/// behind a device of its own site: its gateway (`gw-1`), registered
/// before or in the same request.
fn check_gateway(
    conn: &rusqlite::Connection,
    req: &CreateDevice,
    reqs: &[CreateDevice],
) -> Result<(), ApiError> {
    let Some((gateway, _)) = req.id.rsplit_once('/') else {
        return Ok(());
    };
    match db::device(conn, gateway)? {
        Some(g) if g.site == req.site => Ok(()),
        Some(g) => Err(ApiError::bad_request(format!(
            "device `{}` would be behind gateway `{gateway}`, a device of site `{}`, not `{}`",
            req.id, g.site, req.site
        ))),
        None if reqs.iter().any(|r| r.id == gateway && r.site == req.site) => Ok(()),
        None => Err(ApiError::not_found(format!(
            "device `{}` would be behind gateway `{gateway}`, which is no device of site `{}`; add the gateway first with `edgectl co add device {gateway} --site {}`",
            req.id, req.site, req.site
        ))),
    }
}

/// Register a device at a site.
pub(crate) fn create_device(store: &Store, req: &CreateDevice) -> Result<Device, ApiError> {
    create_devices(store, std::slice::from_ref(req))?
        .pop()
        .ok_or_else(|| ApiError::internal(&anyhow::anyhow!("no device was made")))
}

/// Most devices one request registers.
pub(crate) const MAX_DEVICES_AT_ONCE: usize = 10_000;

/// Register devices, all or none, in one commit of the workspace (a fleet
/// is registered in one go, not one commit per device). Every device is
/// checked before anything is written; the first problem is named.
pub(crate) fn create_devices(
    store: &Store,
    reqs: &[CreateDevice],
) -> Result<Vec<Device>, ApiError> {
    if reqs.is_empty() || reqs.len() > MAX_DEVICES_AT_ONCE {
        return Err(ApiError::bad_request(format!(
            "register 1 to {MAX_DEVICES_AT_ONCE} devices at once, not {}",
            reqs.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for req in reqs {
        if !DeviceId::is_valid(&req.id) {
            return Err(ApiError::bad_request(format!(
                "`{}` is not a device id: {}",
                req.id,
                DeviceId::RULE
            )));
        }
        check_labels(&req.labels)?;
        if !seen.insert(req.id.as_str()) {
            return Err(ApiError::bad_request(format!(
                "device `{}` is named twice; nothing was registered",
                req.id
            )));
        }
    }
    let _w = store.write_lock();
    let mut conn = store.db();
    for req in reqs {
        if db::site(&conn, &req.site)?.is_none() {
            return Err(no_site(
                &conn,
                &req.site,
                &format!("; create it with `edgectl co add site {}`", req.site),
            ));
        }
        if let Some(d) = db::device(&conn, &req.id)? {
            return Err(ApiError::conflict(format!(
                "device `{}` exists already (at site `{}`)",
                req.id, d.site
            )));
        }
        check_gateway(&conn, req, reqs)?;
    }
    let mut written = Vec::with_capacity(reqs.len());
    let undo = |written: &[std::path::PathBuf]| {
        for f in written {
            let _ = fs::remove_file(f);
        }
    };
    for req in reqs {
        let file = store
            .workspace()
            .join("sites")
            .join(&req.site)
            .join("devices")
            .join(format!("{}.toml", req.id));
        let wrote = write_toml(
            &file,
            &DeviceFile {
                id: &req.id,
                site: &req.site,
                labels: &req.labels,
            },
        );
        if let Err(e) = wrote {
            undo(&written);
            return Err(ApiError::internal(&e));
        }
        written.push(file);
    }
    let message = match reqs {
        [one] => format!("add device {} to site {}", one.id, one.site),
        many => {
            let mut sites: Vec<&str> = many.iter().map(|r| r.site.as_str()).collect();
            sites.sort_unstable();
            sites.dedup();
            format!("add {} devices to site(s) {}", many.len(), sites.join(", "))
        }
    };
    if let Err(e) = store.commit(&message) {
        undo(&written);
        return Err(e.into());
    }
    let now = crate::clock::now();
    let rows: Vec<DeviceRow> = reqs
        .iter()
        .map(|req| DeviceRow {
            id: req.id.clone(),
            site: req.site.clone(),
            labels: req.labels.clone(),
            capabilities: None,
            last_heard: None,
            created_at: now.clone(),
        })
        .collect();
    let tx = conn.transaction()?;
    for row in &rows {
        db::insert_device(&tx, row)?;
    }
    tx.commit()?;
    drop(conn);
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        store.events().publish(
            "device.added",
            &row.id,
            Some(&row.site),
            serde_json::json!({}),
        );
        out.push(device_view(store, row, &std::collections::HashMap::new())?);
    }
    Ok(out)
}

/// One device.
pub(crate) fn show_device(store: &Store, device: &str) -> Result<Device, ApiError> {
    let conn = store.db();
    let Some(row) = db::device(&conn, device)? else {
        return Err(no_device(
            &conn,
            device,
            None,
            "; `edgectl co list devices` lists them",
        ));
    };
    let identities = newest_of_devices(&conn, Some(&row.site))?;
    drop(conn);
    device_view(store, row, &identities)
}

/// Replace a device's labels.
pub(crate) fn label_device(
    store: &Store,
    device: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Device, ApiError> {
    check_labels(labels)?;
    let _w = store.write_lock();
    let conn = store.db();
    let Some(row) = db::device(&conn, device)? else {
        return Err(no_device(&conn, device, None, ""));
    };
    let file = store
        .workspace()
        .join("sites")
        .join(&row.site)
        .join("devices")
        .join(format!("{device}.toml"));
    write_toml(
        &file,
        &DeviceFile {
            id: device,
            site: &row.site,
            labels,
        },
    )?;
    store.commit(&format!("label device {device}"))?;
    db::set_device_labels(&conn, device, labels)?;
    let after =
        db::device(&conn, device)?.ok_or_else(|| ApiError::not_found("the device vanished"))?;
    let identities = newest_of_devices(&conn, Some(&row.site))?;
    drop(conn);
    publish_labels(
        store,
        "device.updated",
        device,
        &row.site,
        &row.labels,
        labels,
    );
    device_view(store, after, &identities)
}

/// Publish `kind` about `subject` when its labels changed: the new labels
/// and each change (`label zone b → a`, `label tier=gold added`, `label
/// rack removed`).
fn publish_labels(
    store: &Store,
    kind: &str,
    subject: &str,
    site: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) {
    let changes = label_changes(before, after);
    if changes.is_empty() {
        return;
    }
    store.events().publish(
        kind,
        subject,
        Some(site),
        serde_json::json!({"labels": after, "changes": changes}),
    );
}

/// What changed from `before` to `after`, key by key, in key order.
fn label_changes(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter_map(|k| match (before.get(k), after.get(k)) {
            (Some(b), Some(a)) if a != b => Some(format!("label {k} {b} → {a}")),
            (None, Some(a)) => Some(format!("label {k}={a} added")),
            (Some(_), None) => Some(format!("label {k} removed")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn label_changes_name_each_key_once_in_order() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let before = map(&[("rack", "7"), ("zone", "b"), ("os", "x")]);
        let after = map(&[("tier", "gold"), ("zone", "a"), ("os", "x")]);
        assert_eq!(
            super::label_changes(&before, &after),
            [
                "label rack removed",
                "label tier=gold added",
                "label zone b → a"
            ]
        );
        assert!(super::label_changes(&after, &after).is_empty());
    }
}
