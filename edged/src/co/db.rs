//! The CO's SQLite database (WAL): the index of app versions, sites, devices
//! and deployments. The Git workspace holds the documents; this holds what is
//! needed to answer queries quickly. Access is synchronous; callers run it on
//! blocking threads.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, params};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS app_versions (
    app_id TEXT NOT NULL,
    version TEXT NOT NULL,
    name TEXT NOT NULL,
    organization TEXT NOT NULL,
    description TEXT,
    profiles TEXT NOT NULL,
    source TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    added_at TEXT NOT NULL,
    digest TEXT NOT NULL,
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    UNIQUE (app_id, version)
);
CREATE TABLE IF NOT EXISTS sites (
    name TEXT PRIMARY KEY,
    labels TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL REFERENCES sites(name),
    labels TEXT NOT NULL,
    capabilities TEXT,
    last_heard TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS identities (
    fingerprint TEXT PRIMARY KEY,
    spiffe_id TEXT NOT NULL,
    site TEXT NOT NULL,
    device TEXT,
    issued_at TEXT NOT NULL,
    not_after TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    version TEXT NOT NULL,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    profile TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
";

/// One stored app version.
#[derive(Debug, Clone)]
pub(crate) struct VersionRow {
    pub(crate) app_id: String,
    pub(crate) version: String,
    pub(crate) name: String,
    pub(crate) organization: String,
    pub(crate) description: Option<String>,
    pub(crate) profiles: Vec<String>,
    pub(crate) source: String,
    pub(crate) commit_id: String,
    pub(crate) added_at: String,
    pub(crate) digest: String,
}

/// One site.
#[derive(Debug, Clone)]
pub(crate) struct SiteRow {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) created_at: String,
    pub(crate) devices: u64,
}

/// One device.
#[derive(Debug, Clone)]
pub(crate) struct DeviceRow {
    pub(crate) id: String,
    pub(crate) site: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) capabilities: Option<String>,
    pub(crate) last_heard: Option<String>,
    pub(crate) created_at: String,
}

/// Open (creating) the database in WAL mode.
pub(crate) fn open(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)
        .with_context(|| format!("cannot open the database `{}`", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .context("cannot switch the database to WAL")?;
    // FULL: reports acknowledged to an LO (which then forgets them) survive power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)
        .context("cannot create the database schema")?;
    conn.execute_batch(crate::south::view::SCHEMA)
        .context("cannot create the database schema")?;
    conn.execute_batch(super::reports::SCHEMA)
        .context("cannot create the database schema")?;
    Ok(conn)
}

fn labels(text: &str) -> BTreeMap<String, String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRow> {
    let profiles: String = r.get(5)?;
    Ok(VersionRow {
        app_id: r.get(0)?,
        version: r.get(1)?,
        name: r.get(2)?,
        organization: r.get(3)?,
        description: r.get(4)?,
        profiles: serde_json::from_str(&profiles).unwrap_or_default(),
        source: r.get(6)?,
        commit_id: r.get(7)?,
        added_at: r.get(8)?,
        digest: r.get(9)?,
    })
}

const VERSION_COLUMNS: &str = "app_id, version, name, organization, description, profiles, source, commit_id, added_at, digest";

pub(crate) fn insert_version(c: &Connection, v: &VersionRow) -> rusqlite::Result<()> {
    c.execute(
        &format!("INSERT INTO app_versions ({VERSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        params![
            v.app_id,
            v.version,
            v.name,
            v.organization,
            v.description,
            serde_json::to_string(&v.profiles).unwrap_or_default(),
            v.source,
            v.commit_id,
            v.added_at,
            v.digest
        ],
    )?;
    Ok(())
}

/// Every version, grouped by app in id order, each app's versions oldest first.
pub(crate) fn all_versions(c: &Connection) -> rusqlite::Result<Vec<VersionRow>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {VERSION_COLUMNS} FROM app_versions ORDER BY app_id, seq"
    ))?;
    stmt.query_map([], version_row)?.collect()
}

pub(crate) fn versions_of(c: &Connection, app: &str) -> rusqlite::Result<Vec<VersionRow>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {VERSION_COLUMNS} FROM app_versions WHERE app_id = ?1 ORDER BY seq"
    ))?;
    stmt.query_map([app], version_row)?.collect()
}

/// App ids whose newest display name equals `name` (case-insensitive).
pub(crate) fn apps_named(c: &Connection, name: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = c.prepare(
        "SELECT DISTINCT app_id FROM app_versions WHERE lower(name) = lower(?1) ORDER BY app_id",
    )?;
    stmt.query_map([name], |r| r.get(0))?.collect()
}

pub(crate) fn delete_versions(
    c: &Connection,
    app: &str,
    version: Option<&str>,
) -> rusqlite::Result<usize> {
    match version {
        Some(v) => c.execute(
            "DELETE FROM app_versions WHERE app_id = ?1 AND version = ?2",
            params![app, v],
        ),
        None => c.execute("DELETE FROM app_versions WHERE app_id = ?1", [app]),
    }
}

pub(crate) fn deployments_of(
    c: &Connection,
    app: &str,
    version: Option<&str>,
) -> rusqlite::Result<u64> {
    let n: i64 = match version {
        Some(v) => c.query_row(
            "SELECT count(*) FROM deployments WHERE app_id = ?1 AND version = ?2",
            params![app, v],
            |r| r.get(0),
        ),
        None => c.query_row(
            "SELECT count(*) FROM deployments WHERE app_id = ?1",
            [app],
            |r| r.get(0),
        ),
    }?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) fn count(c: &Connection, sql: &str) -> u64 {
    c.query_row(sql, [], |r| r.get::<_, i64>(0))
        .map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

pub(crate) fn insert_site(
    c: &Connection,
    name: &str,
    labels: &BTreeMap<String, String>,
    now: &str,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO sites (name, labels, created_at) VALUES (?1, ?2, ?3)",
        params![name, serde_json::to_string(labels).unwrap_or_default(), now],
    )?;
    Ok(())
}

pub(crate) fn set_site_labels(
    c: &Connection,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE sites SET labels = ?2 WHERE name = ?1",
        params![name, serde_json::to_string(labels).unwrap_or_default()],
    )
}

fn site_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SiteRow> {
    let l: String = r.get(1)?;
    Ok(SiteRow {
        name: r.get(0)?,
        labels: labels(&l),
        created_at: r.get(2)?,
        devices: r.get::<_, i64>(3)?.try_into().unwrap_or(0),
    })
}

const SITE_QUERY: &str = "SELECT s.name, s.labels, s.created_at, (SELECT count(*) FROM devices d WHERE d.site = s.name) FROM sites s";

pub(crate) fn sites(c: &Connection) -> rusqlite::Result<Vec<SiteRow>> {
    let mut stmt = c.prepare(&format!("{SITE_QUERY} ORDER BY s.name"))?;
    stmt.query_map([], site_row)?.collect()
}

pub(crate) fn site(c: &Connection, name: &str) -> rusqlite::Result<Option<SiteRow>> {
    c.query_row(&format!("{SITE_QUERY} WHERE s.name = ?1"), [name], site_row)
        .optional()
}

pub(crate) fn insert_device(c: &Connection, d: &DeviceRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO devices (id, site, labels, capabilities, last_heard, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![d.id, d.site, serde_json::to_string(&d.labels).unwrap_or_default(), d.capabilities, d.last_heard, d.created_at],
    )?;
    Ok(())
}

pub(crate) fn set_device_labels(
    c: &Connection,
    id: &str,
    labels: &BTreeMap<String, String>,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE devices SET labels = ?2 WHERE id = ?1",
        params![id, serde_json::to_string(labels).unwrap_or_default()],
    )
}

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    let l: String = r.get(2)?;
    Ok(DeviceRow {
        id: r.get(0)?,
        site: r.get(1)?,
        labels: labels(&l),
        capabilities: r.get(3)?,
        last_heard: r.get(4)?,
        created_at: r.get(5)?,
    })
}

pub(crate) fn devices(c: &Connection, site: Option<&str>) -> rusqlite::Result<Vec<DeviceRow>> {
    let base = "SELECT id, site, labels, capabilities, last_heard, created_at FROM devices";
    match site {
        Some(s) => {
            let mut stmt = c.prepare(&format!("{base} WHERE site = ?1 ORDER BY id"))?;
            stmt.query_map([s], device_row)?.collect()
        }
        None => {
            let mut stmt = c.prepare(&format!("{base} ORDER BY id"))?;
            stmt.query_map([], device_row)?.collect()
        }
    }
}

pub(crate) fn device(c: &Connection, id: &str) -> rusqlite::Result<Option<DeviceRow>> {
    c.query_row(
        "SELECT id, site, labels, capabilities, last_heard, created_at FROM devices WHERE id = ?1",
        [id],
        device_row,
    )
    .optional()
}

pub(crate) fn device_deployments(c: &Connection, id: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = c.prepare("SELECT id FROM deployments WHERE device = ?1 ORDER BY rowid")?;
    stmt.query_map([id], |r| r.get(0))?.collect()
}

/// One deployment.
#[derive(Debug, Clone)]
pub(crate) struct DeploymentRow {
    pub(crate) id: String,
    pub(crate) app_id: String,
    pub(crate) version: String,
    pub(crate) site: String,
    pub(crate) device: String,
    pub(crate) profile: String,
    pub(crate) commit_id: String,
    pub(crate) created_at: String,
}

const DEPLOYMENT_COLUMNS: &str =
    "id, app_id, version, site, device, profile, commit_id, created_at";

fn deployment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeploymentRow> {
    Ok(DeploymentRow {
        id: r.get(0)?,
        app_id: r.get(1)?,
        version: r.get(2)?,
        site: r.get(3)?,
        device: r.get(4)?,
        profile: r.get(5)?,
        commit_id: r.get(6)?,
        created_at: r.get(7)?,
    })
}

pub(crate) fn insert_deployment(c: &Connection, d: &DeploymentRow) -> rusqlite::Result<()> {
    c.execute(
        &format!(
            "INSERT INTO deployments ({DEPLOYMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        ),
        params![
            d.id,
            d.app_id,
            d.version,
            d.site,
            d.device,
            d.profile,
            d.commit_id,
            d.created_at
        ],
    )?;
    Ok(())
}

pub(crate) fn deployments(
    c: &Connection,
    site: Option<&str>,
) -> rusqlite::Result<Vec<DeploymentRow>> {
    match site {
        Some(s) => {
            let mut stmt = c.prepare(&format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE site = ?1 ORDER BY rowid"
            ))?;
            stmt.query_map([s], deployment_row)?.collect()
        }
        None => {
            let mut stmt = c.prepare(&format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments ORDER BY site, rowid"
            ))?;
            stmt.query_map([], deployment_row)?.collect()
        }
    }
}

pub(crate) fn deployment(c: &Connection, id: &str) -> rusqlite::Result<Option<DeploymentRow>> {
    c.query_row(
        &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?1"),
        [id],
        deployment_row,
    )
    .optional()
}

pub(crate) fn delete_deployment(c: &Connection, id: &str) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM deployments WHERE id = ?1", [id])
}

/// One issued identity.
#[derive(Debug, Clone)]
pub(crate) struct IdentityRow {
    pub(crate) fingerprint: String,
    pub(crate) spiffe_id: String,
    pub(crate) site: String,
    pub(crate) device: Option<String>,
    pub(crate) issued_at: String,
    pub(crate) not_after: String,
    pub(crate) revoked_at: Option<String>,
}

const IDENTITY_COLUMNS: &str =
    "fingerprint, spiffe_id, site, device, issued_at, not_after, revoked_at";

fn identity_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IdentityRow> {
    Ok(IdentityRow {
        fingerprint: r.get(0)?,
        spiffe_id: r.get(1)?,
        site: r.get(2)?,
        device: r.get(3)?,
        issued_at: r.get(4)?,
        not_after: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

pub(crate) fn insert_identity(c: &Connection, i: &IdentityRow) -> rusqlite::Result<()> {
    c.execute(
        &format!("INSERT INTO identities ({IDENTITY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            i.fingerprint,
            i.spiffe_id,
            i.site,
            i.device,
            i.issued_at,
            i.not_after,
            i.revoked_at
        ],
    )?;
    Ok(())
}

pub(crate) fn identity(c: &Connection, fingerprint: &str) -> rusqlite::Result<Option<IdentityRow>> {
    c.query_row(
        &format!("SELECT {IDENTITY_COLUMNS} FROM identities WHERE fingerprint = ?1"),
        [fingerprint],
        identity_row,
    )
    .optional()
}

/// Revoke every active identity of `site` (its LO when `device` is `None`).
pub(crate) fn revoke(
    c: &Connection,
    site: &str,
    device: Option<&str>,
    now: &str,
) -> rusqlite::Result<usize> {
    match device {
        Some(d) => c.execute(
            "UPDATE identities SET revoked_at = ?3 WHERE site = ?1 AND device = ?2 AND revoked_at IS NULL",
            params![site, d, now],
        ),
        None => c.execute(
            "UPDATE identities SET revoked_at = ?2 WHERE site = ?1 AND device IS NULL AND revoked_at IS NULL",
            params![site, now],
        ),
    }
}
