//! Removing a site or a device from the index: the `removals` table (the
//! intent of a removal, written before its files leave the workspace, so a
//! start after a crash knows a missing file means "removed", not "lost"),
//! the rollouts still changing deployments there, and the rows that go in
//! one transaction at the end (identities revoked, reported states,
//! devices, the site).

use rusqlite::{Connection, params};

use super::rollouts::ACTIVE;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS removals (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    site TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
";

/// A removal begun: `kind` (`site` or `device`), its name, its site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Intent {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) site: String,
}

/// Record that the removal of `name` (a `kind`) of `site` begins.
pub(crate) fn begin(c: &Connection, i: &Intent, at: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT OR REPLACE INTO removals (kind, name, site, at) VALUES (?1, ?2, ?3, ?4)",
        params![i.kind, i.name, i.site, at],
    )?;
    Ok(())
}

/// Forget a removal (done, or given up before its files went).
pub(crate) fn forget(c: &Connection, i: &Intent) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM removals WHERE kind = ?1 AND name = ?2",
        params![i.kind, i.name],
    )?;
    Ok(())
}

/// Every removal begun and not finished.
pub(crate) fn pending(c: &Connection) -> rusqlite::Result<Vec<Intent>> {
    let mut st = c.prepare("SELECT kind, name, site FROM removals ORDER BY at, name")?;
    st.query_map([], |r| {
        Ok(Intent {
            kind: r.get(0)?,
            name: r.get(1)?,
            site: r.get(2)?,
        })
    })?
    .collect()
}

/// The rollouts not over whose targets are at `site` (on `device`, when
/// given): they may still write deployments there.
pub(crate) fn rollouts_at(
    c: &Connection,
    site: &str,
    device: Option<&str>,
) -> rusqlite::Result<Vec<i64>> {
    let mut st = c.prepare(
        "SELECT DISTINCT t.rollout FROM rollout_targets t JOIN rollouts r ON r.id = t.rollout
         WHERE r.state IN (?1, ?2) AND t.site = ?3 AND (?4 IS NULL OR t.device = ?4)
         ORDER BY t.rollout",
    )?;
    st.query_map(params![ACTIVE[0], ACTIVE[1], site, device], |r| r.get(0))?
        .collect()
}

/// Drop device `device` of `site` from the index: its identities revoked
/// (at `now`), its reported states and its row. How many identities were
/// revoked.
pub(crate) fn drop_device(
    c: &Connection,
    site: &str,
    device: &str,
    now: &str,
) -> rusqlite::Result<usize> {
    let revoked = super::identities::revoke(c, site, Some(device), now)?;
    c.execute(
        "DELETE FROM deployment_status WHERE site = ?1 AND device = ?2",
        params![site, device],
    )?;
    c.execute(
        "DELETE FROM devices WHERE id = ?1 AND site = ?2",
        params![device, site],
    )?;
    Ok(revoked)
}

/// Drop site `site` from the index: every identity of it revoked (its
/// LO's and its devices', at `now`), its reported states, its devices and
/// its row. How many identities were revoked.
pub(crate) fn drop_site(c: &Connection, site: &str, now: &str) -> rusqlite::Result<usize> {
    let revoked = c.execute(
        "UPDATE identities SET revoked_at = ?2 WHERE site = ?1 AND revoked_at IS NULL",
        params![site, now],
    )?;
    c.execute("DELETE FROM deployment_status WHERE site = ?1", [site])?;
    c.execute("DELETE FROM devices WHERE site = ?1", [site])?;
    c.execute("DELETE FROM sites WHERE name = ?1", [site])?;
    Ok(revoked)
}
