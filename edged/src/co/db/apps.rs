//! The `app_versions` table: one row per stored app version (the package
//! itself is in the workspace, `apps/<id>/<version>/`).

use rusqlite::{Connection, params};

pub(super) const SCHEMA: &str = "
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

/// The versions of `app`, oldest first.
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

/// Forget one version of `app`, or all of them.
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
