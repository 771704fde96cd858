//! The CO's SQLite database (WAL): every table and query of the CO, one
//! module per table group — `apps` (app versions), `sites` (sites and
//! devices, with the capabilities devices report), `deployments`,
//! `identities` (issued certificates and revocations), `reports` (reported
//! deployment status and the intake bookkeeping of LO outboxes), `rollouts`
//! (changes going out in waves), `access`
//! (north API tokens and the audit log), `names` (bounded reads of known
//! names for "did you mean"), `removal` (sites and devices leaving the
//! index, with the intent that makes it survive a crash), `events` (where
//! event ids go on from after a restart) — plus the
//! manifest-version tables the CO shares with the LO
//! ([`crate::south::view::versions`]). The Git workspace holds the documents;
//! this holds what is needed to answer queries quickly. Access is
//! synchronous; callers run it on blocking threads. Nothing here knows of
//! HTTP or of the operations above it.

pub(crate) mod access;
pub(crate) mod apps;
pub(crate) mod deployments;
pub(crate) mod events;
pub(crate) mod identities;
pub(crate) mod names;
pub(crate) mod removal;
pub(crate) mod reports;
pub(crate) mod rollouts;
pub(crate) mod sites;

use std::path::Path;

use anyhow::Context as _;
use rusqlite::Connection;

/// Open (creating) the database in WAL mode, with every table.
pub(crate) fn open(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)
        .with_context(|| format!("cannot open the database `{}`", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .context("cannot switch the database to WAL")?;
    // FULL: reports acknowledged to an LO (which then forgets them) survive power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 32 MiB of page cache (SQLite's default is 2): with 100,000 deployments
    // indexed, intake read most pages from the OS on every batch.
    conn.pragma_update(None, "cache_size", -32_768)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    for schema in [
        apps::SCHEMA,
        sites::SCHEMA,
        identities::SCHEMA,
        deployments::SCHEMA,
        crate::south::view::versions::SCHEMA,
        reports::SCHEMA,
        rollouts::SCHEMA,
        access::SCHEMA,
        removal::SCHEMA,
        events::SCHEMA,
    ] {
        conn.execute_batch(schema)
            .context("cannot create the database schema")?;
    }
    deployments::migrate(&conn).context("cannot bring the deployments table up to date")?;
    crate::south::view::versions::migrate(&conn)
        .context("cannot bring the manifest-version tables up to date")?;
    reports::migrate(&conn).context("cannot bring the status table up to date")?;
    Ok(conn)
}

/// The store's size, for the status endpoint and the metrics gauges.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub(crate) apps: u64,
    pub(crate) app_versions: u64,
    pub(crate) sites: u64,
    pub(crate) devices: u64,
    pub(crate) deployments: u64,
}

/// Count the apps, versions, sites, devices and deployments (0 for a
/// table that cannot be read).
pub(crate) fn counts(c: &Connection) -> Counts {
    Counts {
        apps: count(c, "SELECT count(DISTINCT app_id) FROM app_versions"),
        app_versions: count(c, "SELECT count(*) FROM app_versions"),
        sites: count(c, "SELECT count(*) FROM sites"),
        devices: count(c, "SELECT count(*) FROM devices"),
        deployments: count(c, "SELECT count(*) FROM deployments"),
    }
}

/// Deployments by their last reported state (`pending` before any report).
pub(crate) fn deployments_by_state(c: &Connection) -> Vec<(String, u64)> {
    let Ok(mut st) = c.prepare_cached(
        "SELECT COALESCE(s.state, 'pending'), count(*) FROM deployments d
         LEFT JOIN deployment_status s ON s.deployment = d.id GROUP BY 1 ORDER BY 1",
    ) else {
        return Vec::new();
    };
    st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map(|rows| {
            rows.filter_map(Result::ok)
                .map(|(s, n)| (s, u64::try_from(n).unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the database answers at all.
pub(crate) fn healthy(c: &Connection) -> bool {
    c.query_row("SELECT 1", [], |_| Ok(())).is_ok()
}

fn count(c: &Connection, sql: &str) -> u64 {
    c.query_row(sql, [], |r| r.get::<_, i64>(0))
        .map_or(0, |n| u64::try_from(n).unwrap_or(0))
}
