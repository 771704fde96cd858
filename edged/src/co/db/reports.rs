//! Observed state: the `deployment_status` table (each deployment's last
//! reported status) and the `intake` table (per site and LO outbox epoch,
//! the last sequence number applied, which makes intake exactly-once).

use std::collections::HashMap;

use edge_model::status::DeploymentStatusManifest;
use rusqlite::{Connection, OptionalExtension as _, params};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deployment_status (
    deployment TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    adopted_version INTEGER,
    report TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    digest TEXT
);
CREATE TABLE IF NOT EXISTS intake (
    site TEXT NOT NULL,
    epoch TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (site, epoch)
);
";

/// Bring a table made by an earlier release up to [`SCHEMA`] (the `digest`
/// column: the document a report is about).
pub(crate) fn migrate(c: &Connection) -> rusqlite::Result<()> {
    let has: i64 = c.query_row(
        "SELECT count(*) FROM pragma_table_info('deployment_status') WHERE name = 'digest'",
        [],
        |r| r.get(0),
    )?;
    if has == 0 {
        c.execute_batch("ALTER TABLE deployment_status ADD COLUMN digest TEXT")?;
    }
    Ok(())
}

/// The last reported state of a deployment.
pub(crate) struct StateRow {
    pub(crate) state: String,
    pub(crate) at: String,
    pub(crate) error: Option<String>,
    /// The digest of the document the report is about (none: an earlier
    /// one, or not known).
    pub(crate) digest: Option<String>,
}

/// Every deployment's last reported state, by deployment id.
pub(crate) fn states(c: &Connection) -> rusqlite::Result<HashMap<String, StateRow>> {
    let mut st =
        c.prepare("SELECT deployment, state, updated_at, error, digest FROM deployment_status")?;
    st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            StateRow {
                state: r.get(1)?,
                at: r.get(2)?,
                error: r.get(3)?,
                digest: r.get(4)?,
            },
        ))
    })?
    .collect()
}

/// The last reported state of deployment `id`, if any.
pub(crate) fn state_of(c: &Connection, id: &str) -> rusqlite::Result<Option<StateRow>> {
    c.query_row(
        "SELECT state, updated_at, error, digest FROM deployment_status WHERE deployment = ?1",
        [id],
        |r| {
            Ok(StateRow {
                state: r.get(0)?,
                at: r.get(1)?,
                error: r.get(2)?,
                digest: r.get(3)?,
            })
        },
    )
    .optional()
}

/// Where deployment `id` is placed, `(site, device)`: as the CO placed it,
/// else (deleted since) where it was last reported from; `None` for a
/// deployment the CO never knew.
pub(crate) fn placed(c: &Connection, id: &str) -> rusqlite::Result<Option<(String, String)>> {
    Ok(placement(c, id)?.map(|p| (p.site, p.device)))
}

/// Where a deployment is, and the digest of its document now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) site: String,
    pub(crate) device: String,
    /// Its document's digest; `None` for a deployment deleted since, or one
    /// indexed before digests were kept.
    pub(crate) digest: Option<String>,
}

/// [`placed`], with the digest of the deployment's document; one cached
/// statement each (intake asks this for every report).
pub(crate) fn placement(c: &Connection, id: &str) -> rusqlite::Result<Option<Placement>> {
    let placed = c
        .prepare_cached("SELECT site, device, digest FROM deployments WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(Placement {
                site: r.get(0)?,
                device: r.get(1)?,
                digest: Some(r.get::<_, String>(2)?).filter(|d| !d.is_empty()),
            })
        })
        .optional()?;
    if placed.is_some() {
        return Ok(placed);
    }
    c.prepare_cached("SELECT site, device FROM deployment_status WHERE deployment = ?1")?
        .query_row([id], |r| {
            Ok(Placement {
                site: r.get(0)?,
                device: r.get(1)?,
                digest: None,
            })
        })
        .optional()
}

/// Store a status report about the document with `digest` (`None`: an
/// earlier document, or unknown); whether it is the first for its deployment, or
/// `None` (nothing stored) when the CO does not know the deployment or it
/// belongs to another site or device, so no LO can write over another
/// site's state or invent rows: a site's rows are bounded by the
/// deployments the CO placed there.
pub(crate) fn set_status(
    c: &Connection,
    site: &str,
    device: &str,
    doc: &DeploymentStatusManifest,
    at: &str,
    digest: Option<&str>,
) -> rusqlite::Result<Option<bool>> {
    let id = doc.deployment_id.as_str();
    match placed(c, id)? {
        Some((s, d)) if s == site && d == device => {}
        _ => return Ok(None),
    }
    let existed = c
        .prepare_cached("SELECT 1 FROM deployment_status WHERE deployment = ?1")?
        .exists([id])?;
    write_status(c, site, device, doc, at, digest)?;
    super::sites::heard_from(c, site, device, at)?;
    Ok(Some(!existed))
}

/// Write deployment `doc`'s last report, its placement already checked
/// (`set_status` checks it; intake checks a batch's placements first).
pub(crate) fn write_status(
    c: &Connection,
    site: &str,
    device: &str,
    doc: &DeploymentStatusManifest,
    at: &str,
    digest: Option<&str>,
) -> rusqlite::Result<()> {
    let digest = digest.filter(|d| edge_model::Digest::is_valid(d));
    let error = doc
        .status
        .error
        .as_ref()
        .and_then(|e| e.message.clone())
        .or_else(|| {
            doc.components.iter().find_map(|c| {
                c.error
                    .as_ref()
                    .and_then(|e| e.message.as_ref())
                    .map(|m| format!("{}: {m}", c.name))
            })
        });
    c.prepare_cached(
        "INSERT INTO deployment_status (deployment, site, device, state, error, adopted_version, report, updated_at, digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (deployment) DO UPDATE SET site = excluded.site, device = excluded.device, state = excluded.state,
           error = excluded.error, adopted_version = excluded.adopted_version, report = excluded.report,
           updated_at = excluded.updated_at, digest = excluded.digest",
    )?
    .execute(params![
        doc.deployment_id.as_str(),
        site,
        device,
        doc.status.state.to_string(),
        error,
        doc.adopted_manifest_version.and_then(|v| i64::try_from(v).ok()),
        serde_json::to_string(doc).unwrap_or_default(),
        at,
        digest
    ])?;
    Ok(())
}

/// The last sequence number applied from outbox `epoch` of `site`'s LO (0
/// before the first).
pub(crate) fn last_applied(c: &Connection, site: &str, epoch: &str) -> rusqlite::Result<i64> {
    Ok(
        c.prepare_cached("SELECT last_seq FROM intake WHERE site = ?1 AND epoch = ?2")?
            .query_row(params![site, epoch], |r| r.get(0))
            .optional()?
            .unwrap_or(0),
    )
}

/// Record `last` as the last sequence number applied from outbox `epoch`.
pub(crate) fn set_last_applied(
    c: &Connection,
    site: &str,
    epoch: &str,
    last: i64,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO intake (site, epoch, last_seq) VALUES (?1, ?2, ?3)
         ON CONFLICT (site, epoch) DO UPDATE SET last_seq = excluded.last_seq",
    )?
    .execute(params![site, epoch, last])?;
    Ok(())
}
