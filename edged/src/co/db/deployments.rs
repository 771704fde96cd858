//! The `deployments` table: the index of the deployment files in the site
//! repositories (`sites/<site>/deployments/<id>.yaml`), rebuilt from them
//! when they disagree.

use rusqlite::{Connection, OptionalExtension as _, params};

pub(super) const SCHEMA: &str = "
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

/// The ids of the deployments of device `id`, oldest first.
pub(crate) fn device_deployments(c: &Connection, id: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = c.prepare("SELECT id FROM deployments WHERE device = ?1 ORDER BY rowid")?;
    stmt.query_map([id], |r| r.get(0))?.collect()
}

/// How many deployments `app` (only `version`, when given) has.
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

/// The site and device deployment `id` is desired at, when it is.
pub(crate) fn placement(c: &Connection, id: &str) -> rusqlite::Result<Option<(String, String)>> {
    c.query_row(
        "SELECT site, device FROM deployments WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}
