//! Where manifest versions are kept, in the owner's database (the CO's
//! `edged.db` or the LO's `lo.db`), per scope (the site): the
//! `manifest_versions` table (each device's current version and what it
//! stands for) and the `served` table (which device each deployment was
//! ever served to, so a report for it can be judged). The only SQL of the
//! views.

use rusqlite::{Connection, OptionalExtension as _, params};

/// Tables kept next to the owner's own.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS manifest_versions (
    scope TEXT NOT NULL,
    device TEXT NOT NULL,
    version INTEGER NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (scope, device)
);
CREATE TABLE IF NOT EXISTS served (
    scope TEXT NOT NULL,
    deployment TEXT NOT NULL,
    device TEXT NOT NULL,
    PRIMARY KEY (scope, deployment)
);
";

/// The version for `device` now serving content `key` (made of
/// `deployments`): the stored one when the content is unchanged, else the
/// larger of stored + 1 and `floor`, stored with the deployments it serves.
/// Run inside the caller's transaction.
pub(crate) fn assign<'a>(
    c: &Connection,
    scope: &str,
    device: &str,
    key: &str,
    floor: u64,
    deployments: impl IntoIterator<Item = &'a str>,
) -> rusqlite::Result<u64> {
    let row: Option<(i64, String)> = c
        .query_row(
            "SELECT version, content FROM manifest_versions WHERE scope = ?1 AND device = ?2",
            params![scope, device],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let floor = i64::try_from(floor.max(1)).unwrap_or(i64::MAX);
    let version = match row {
        Some((v, k)) if k == key => return Ok(u64::try_from(v).unwrap_or(1)),
        Some((v, _)) => (v + 1).max(floor),
        None => floor,
    };
    c.execute(
        "INSERT INTO manifest_versions (scope, device, version, content) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (scope, device) DO UPDATE SET version = excluded.version, content = excluded.content",
        params![scope, device, version, key],
    )?;
    for id in deployments {
        c.execute(
            "INSERT INTO served (scope, deployment, device) VALUES (?1, ?2, ?3)
             ON CONFLICT (scope, deployment) DO UPDATE SET device = excluded.device",
            params![scope, id, device],
        )?;
    }
    Ok(u64::try_from(version).unwrap_or(1))
}

/// Every device that was ever given a version in `scope`.
pub(crate) fn devices(c: &Connection, scope: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare("SELECT device FROM manifest_versions WHERE scope = ?1")?;
    st.query_map([scope], |r| r.get(0))?.collect()
}

/// The device a deployment was ever served to in `scope`.
pub(crate) fn owner(
    c: &Connection,
    scope: &str,
    deployment: &str,
) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT device FROM served WHERE scope = ?1 AND deployment = ?2",
        params![scope, deployment],
        |r| r.get(0),
    )
    .optional()
}
