//! Where manifest versions are kept, in the owner's database (the CO's
//! `edged.db` or the LO's `lo.db`), per scope (the site): the
//! `manifest_versions` table (each device's current version and what it
//! stands for) and the `served` table (which device each deployment was
//! ever served for — its `metadata.deviceId`, a gateway's child too, whose
//! deployments its gateway is served — so a report for it can be judged, and the digest of the
//! Git file its document served last came from, with the manifest version
//! that first carried it, so a report can be tied to the document it is
//! about: a device that acted on that version or a later one acted on that
//! document, and the digest is the one the CO wrote, whatever the server
//! changed in what it served, such as naming artifacts in its registry).
//! The only SQL of the views.

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
    digest TEXT,
    since INTEGER,
    PRIMARY KEY (scope, deployment)
);
";

/// Bring tables made by an earlier release up to [`SCHEMA`] (the `digest`
/// and `since` columns of `served`).
pub(crate) fn migrate(c: &Connection) -> rusqlite::Result<()> {
    let has: i64 = c.query_row(
        "SELECT count(*) FROM pragma_table_info('served') WHERE name = 'digest'",
        [],
        |r| r.get(0),
    )?;
    if has == 0 {
        c.execute_batch(
            "ALTER TABLE served ADD COLUMN digest TEXT; ALTER TABLE served ADD COLUMN since INTEGER;",
        )?;
    }
    Ok(())
}

/// The version for `device` now serving content `key` (made of
/// `deployments`, as (id, the digest of its Git file, the device it is
/// for)): the stored one when the content is
/// unchanged, else the larger of stored + 1 and `floor`, stored with the
/// deployments it serves (a deployment whose digest is new gets this
/// version as its `since`). Run inside the caller's transaction.
pub(crate) fn assign<'a>(
    c: &Connection,
    scope: &str,
    device: &str,
    key: &str,
    floor: u64,
    deployments: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
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
    for (id, digest, target) in deployments {
        c.execute(
            "INSERT INTO served (scope, deployment, device, digest, since) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (scope, deployment) DO UPDATE SET device = excluded.device,
               since = CASE WHEN served.digest IS excluded.digest AND served.since IS NOT NULL
                            THEN served.since ELSE excluded.since END,
               digest = excluded.digest",
            params![scope, id, target, digest, version],
        )?;
    }
    Ok(u64::try_from(version).unwrap_or(1))
}

/// Every device that was ever given a version in `scope`.
pub(crate) fn devices(c: &Connection, scope: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare("SELECT device FROM manifest_versions WHERE scope = ?1")?;
    st.query_map([scope], |r| r.get(0))?.collect()
}

/// The device a deployment was ever served for in `scope` (its
/// `metadata.deviceId`: a gateway's child is served through its gateway).
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

/// The digest of the document of `deployment` that a report made after
/// acting on manifest version `adopted` is about: the digest served last,
/// when `adopted` is at least the version that first carried it; `None`
/// when the report is about an earlier document or cannot be told.
pub(crate) fn reported_digest(
    c: &Connection,
    scope: &str,
    deployment: &str,
    adopted: Option<u64>,
) -> rusqlite::Result<Option<String>> {
    let Some(adopted) = adopted.and_then(|v| i64::try_from(v).ok()) else {
        return Ok(None);
    };
    let row: Option<(Option<String>, Option<i64>)> = c
        .query_row(
            "SELECT digest, since FROM served WHERE scope = ?1 AND deployment = ?2",
            params![scope, deployment],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match row {
        Some((Some(d), Some(since))) if adopted >= since => Some(d),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_tied_to_the_document_of_the_version_it_acted_on() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        migrate(&c).unwrap();
        let v1 = assign(
            &c,
            "s",
            "d",
            "k1",
            1,
            [("a", "sha256:1", "d"), ("b", "sha256:b", "d")],
        )
        .unwrap();
        assert_eq!(
            reported_digest(&c, "s", "a", Some(v1)).unwrap().as_deref(),
            Some("sha256:1")
        );
        // `a` changes: a report made on the earlier version is about its old document.
        let v2 = assign(
            &c,
            "s",
            "d",
            "k2",
            1,
            [("a", "sha256:2", "d"), ("b", "sha256:b", "d")],
        )
        .unwrap();
        assert!(v2 > v1);
        assert_eq!(reported_digest(&c, "s", "a", Some(v1)).unwrap(), None);
        assert_eq!(
            reported_digest(&c, "s", "a", Some(v2)).unwrap().as_deref(),
            Some("sha256:2")
        );
        // `b` did not change: a report from either version is about its document.
        assert_eq!(
            reported_digest(&c, "s", "b", Some(v1)).unwrap().as_deref(),
            Some("sha256:b")
        );
        // Something else changes: `a` keeps the version that first carried it.
        let v3 = assign(&c, "s", "d", "k3", 1, [("a", "sha256:2", "d")]).unwrap();
        assert!(v3 > v2);
        assert_eq!(
            reported_digest(&c, "s", "a", Some(v2)).unwrap().as_deref(),
            Some("sha256:2")
        );
        // Back to the first document (a rollback): only reports from now count.
        let v4 = assign(&c, "s", "d", "k4", 1, [("a", "sha256:1", "d")]).unwrap();
        assert_eq!(reported_digest(&c, "s", "a", Some(v1)).unwrap(), None);
        assert_eq!(
            reported_digest(&c, "s", "a", Some(v4)).unwrap().as_deref(),
            Some("sha256:1")
        );
        assert_eq!(
            reported_digest(&c, "s", "a", None).unwrap(),
            None,
            "rc.3 reports say their version"
        );
    }
}
