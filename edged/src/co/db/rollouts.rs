//! The rollout tables: `rollouts` (one row per rollout: its policy, state
//! and the wave it has reached), `rollout_waves` (when each wave was sent
//! and finished) and `rollout_targets` (each deployment it changes, with
//! the exact document it writes and the one it replaces, so a wave sent
//! again after a crash writes the same bytes, and a rollback puts back the
//! bytes that were there).

use rusqlite::{Connection, OptionalExtension as _, params};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL,
    reason TEXT,
    description TEXT NOT NULL,
    by TEXT NOT NULL,
    policy TEXT NOT NULL,
    budget INTEGER NOT NULL,
    timeout_secs INTEGER NOT NULL,
    wave INTEGER NOT NULL DEFAULT 0,
    waves INTEGER NOT NULL,
    sites TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rollouts_by_state ON rollouts (state);
CREATE TABLE IF NOT EXISTS rollout_waves (
    rollout INTEGER NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sent_at INTEGER,
    done_at INTEGER,
    PRIMARY KEY (rollout, number)
);
CREATE TABLE IF NOT EXISTS rollout_targets (
    rollout INTEGER NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    deployment TEXT NOT NULL,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    app TEXT NOT NULL,
    wave INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    change TEXT NOT NULL,
    from_version TEXT,
    to_version TEXT,
    new_doc TEXT,
    new_digest TEXT,
    old_doc TEXT,
    state TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (rollout, deployment)
);
CREATE INDEX IF NOT EXISTS rollout_targets_by_wave ON rollout_targets (rollout, wave, state);
";

/// States of a rollout that is not over.
pub(crate) const ACTIVE: [&str; 2] = ["running", "paused"];

/// One rollout.
#[derive(Debug, Clone)]
pub(crate) struct RolloutRow {
    pub(crate) id: i64,
    pub(crate) state: String,
    pub(crate) reason: Option<String>,
    pub(crate) description: String,
    pub(crate) by: String,
    /// The policy as given (JSON).
    pub(crate) policy: String,
    pub(crate) budget: i64,
    pub(crate) timeout_secs: i64,
    /// The last wave sent (0: none yet).
    pub(crate) wave: i64,
    pub(crate) waves: i64,
    /// The sites, comma-separated.
    pub(crate) sites: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

const ROLLOUT_COLUMNS: &str = "id, state, reason, description, by, policy, budget, timeout_secs, wave, waves, sites, created_at, updated_at";

fn rollout_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RolloutRow> {
    Ok(RolloutRow {
        id: r.get(0)?,
        state: r.get(1)?,
        reason: r.get(2)?,
        description: r.get(3)?,
        by: r.get(4)?,
        policy: r.get(5)?,
        budget: r.get(6)?,
        timeout_secs: r.get(7)?,
        wave: r.get(8)?,
        waves: r.get(9)?,
        sites: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

/// One deployment a rollout changes.
#[derive(Debug, Clone)]
pub(crate) struct TargetRow {
    pub(crate) deployment: String,
    pub(crate) site: String,
    pub(crate) device: String,
    pub(crate) app: String,
    pub(crate) wave: i64,
    /// `created`, `updated` or `removed`.
    pub(crate) change: String,
    pub(crate) from_version: Option<String>,
    pub(crate) to_version: Option<String>,
    /// The document written (none for a removal).
    pub(crate) new_doc: Option<String>,
    pub(crate) new_digest: Option<String>,
    /// The document replaced (none for a new deployment).
    pub(crate) old_doc: Option<String>,
    pub(crate) state: String,
    pub(crate) error: Option<String>,
}

const TARGET_COLUMNS: &str = "deployment, site, device, app, wave, change, from_version, to_version, new_doc, new_digest, old_doc, state, error";

fn target_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TargetRow> {
    Ok(TargetRow {
        deployment: r.get(0)?,
        site: r.get(1)?,
        device: r.get(2)?,
        app: r.get(3)?,
        wave: r.get(4)?,
        change: r.get(5)?,
        from_version: r.get(6)?,
        to_version: r.get(7)?,
        new_doc: r.get(8)?,
        new_digest: r.get(9)?,
        old_doc: r.get(10)?,
        state: r.get(11)?,
        error: r.get(12)?,
    })
}

/// A rollout to record.
pub(crate) struct NewRollout<'a> {
    pub(crate) description: &'a str,
    pub(crate) by: &'a str,
    pub(crate) policy: &'a str,
    pub(crate) budget: i64,
    pub(crate) timeout_secs: i64,
    pub(crate) sites: &'a str,
    /// Each wave's size, in order.
    pub(crate) waves: &'a [i64],
}

/// Record a rollout with its targets (state `pending`, in order), all in
/// one transaction; its id.
pub(crate) fn insert(
    c: &mut Connection,
    r: &NewRollout<'_>,
    targets: &[TargetRow],
) -> rusqlite::Result<i64> {
    let now = crate::clock::now();
    let tx = c.transaction()?;
    tx.execute(
        "INSERT INTO rollouts (state, description, by, policy, budget, timeout_secs, wave, waves, sites, created_at, updated_at)
         VALUES ('running', ?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8, ?8)",
        params![
            r.description,
            r.by,
            r.policy,
            r.budget,
            r.timeout_secs,
            i64::try_from(r.waves.len()).unwrap_or(i64::MAX),
            r.sites,
            now
        ],
    )?;
    let id = tx.last_insert_rowid();
    for (i, size) in r.waves.iter().enumerate() {
        tx.execute(
            "INSERT INTO rollout_waves (rollout, number, size) VALUES (?1, ?2, ?3)",
            params![id, i64::try_from(i + 1).unwrap_or(i64::MAX), size],
        )?;
    }
    {
        let mut st = tx.prepare(&format!(
            "INSERT INTO rollout_targets (rollout, ord, {TARGET_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
        ))?;
        for (ord, t) in targets.iter().enumerate() {
            st.execute(params![
                id,
                i64::try_from(ord).unwrap_or(i64::MAX),
                t.deployment,
                t.site,
                t.device,
                t.app,
                t.wave,
                t.change,
                t.from_version,
                t.to_version,
                t.new_doc,
                t.new_digest,
                t.old_doc,
                t.state,
                t.error
            ])?;
        }
    }
    tx.commit()?;
    Ok(id)
}

/// One rollout.
pub(crate) fn get(c: &Connection, id: i64) -> rusqlite::Result<Option<RolloutRow>> {
    c.query_row(
        &format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE id = ?1"),
        [id],
        rollout_row,
    )
    .optional()
}

/// The newest `limit` rollouts, newest first.
pub(crate) fn list(c: &Connection, limit: i64) -> rusqlite::Result<Vec<RolloutRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {ROLLOUT_COLUMNS} FROM rollouts ORDER BY id DESC LIMIT ?1"
    ))?;
    st.query_map([limit], rollout_row)?.collect()
}

/// The rollouts that are not over, oldest first.
pub(crate) fn active(c: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut st = c.prepare("SELECT id FROM rollouts WHERE state IN (?1, ?2) ORDER BY id")?;
    st.query_map(params![ACTIVE[0], ACTIVE[1]], |r| r.get(0))?
        .collect()
}

/// `state IN (…)` over `states` with placeholders from `?first` on (true
/// when `states` is empty).
fn state_filter(states: &[&str], first: usize) -> String {
    if states.is_empty() {
        return "1".to_owned();
    }
    let marks: Vec<String> = (0..states.len())
        .map(|i| format!("?{}", first + i))
        .collect();
    format!("state IN ({})", marks.join(", "))
}

/// A rollout's targets, in order: of one wave, or all (`wave` 0), in one of
/// `states` (any when empty).
pub(crate) fn targets(
    c: &Connection,
    id: i64,
    wave: i64,
    states: &[&str],
) -> rusqlite::Result<Vec<TargetRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {TARGET_COLUMNS} FROM rollout_targets WHERE rollout = ?1 AND (?2 = 0 OR wave = ?2) AND {} ORDER BY ord",
        state_filter(states, 3)
    ))?;
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&id, &wave];
    args.extend(states.iter().map(|s| s as &dyn rusqlite::ToSql));
    st.query_map(args.as_slice(), target_row)?.collect()
}

/// Every target of a rollout, in order, without the documents (for
/// showing it).
pub(crate) fn listing(c: &Connection, id: i64) -> rusqlite::Result<Vec<TargetRow>> {
    let mut st = c.prepare(
        "SELECT deployment, site, device, app, wave, change, from_version, to_version, NULL, new_digest, NULL, state, error
         FROM rollout_targets WHERE rollout = ?1 ORDER BY ord",
    )?;
    st.query_map([id], target_row)?.collect()
}

/// How many of a rollout's targets (of one wave, or all: `wave` 0) are in
/// one of `states`.
pub(crate) fn count(c: &Connection, id: i64, wave: i64, states: &[&str]) -> rusqlite::Result<i64> {
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&id, &wave];
    args.extend(states.iter().map(|s| s as &dyn rusqlite::ToSql));
    c.query_row(
        &format!(
            "SELECT count(*) FROM rollout_targets WHERE rollout = ?1 AND (?2 = 0 OR wave = ?2) AND {}",
            state_filter(states, 3)
        ),
        args.as_slice(),
        |r| r.get(0),
    )
}

/// A sent target and what its device last reported.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub(crate) deployment: String,
    pub(crate) site: String,
    pub(crate) device: String,
    pub(crate) wave: i64,
    /// The target's state.
    pub(crate) state: String,
    /// The digest of the document the rollout wrote.
    pub(crate) digest: Option<String>,
    /// The state reported, if any.
    pub(crate) reported: Option<String>,
    /// The digest of the document the report is about.
    pub(crate) about: Option<String>,
    pub(crate) error: Option<String>,
}

/// The columns of [`Observed`], from targets `t` and status `s`.
const OBSERVED: &str = "SELECT t.deployment, t.site, t.device, t.wave, t.state, t.new_digest, s.state, s.digest, s.error
     FROM rollout_targets t LEFT JOIN deployment_status s ON s.deployment = t.deployment";

fn observed_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Observed> {
    Ok(Observed {
        deployment: r.get(0)?,
        site: r.get(1)?,
        device: r.get(2)?,
        wave: r.get(3)?,
        state: r.get(4)?,
        digest: r.get(5)?,
        reported: r.get(6)?,
        about: r.get(7)?,
        error: r.get(8)?,
    })
}

/// [`Observed`] for the targets in `waiting`, `timed-out` or `failed`.
pub(crate) fn observed(c: &Connection, id: i64) -> rusqlite::Result<Vec<Observed>> {
    let mut st = c.prepare(&format!(
        "{OBSERVED} WHERE t.rollout = ?1 AND t.state IN ('waiting', 'timed-out', 'failed')"
    ))?;
    st.query_map([id], observed_row)?.collect()
}

/// [`observed`], of the targets among `deployments` only (one indexed
/// lookup each).
pub(crate) fn observed_among<'a>(
    c: &Connection,
    id: i64,
    deployments: impl IntoIterator<Item = &'a String>,
) -> rusqlite::Result<Vec<Observed>> {
    let mut st = c.prepare_cached(&format!(
        "{OBSERVED} WHERE t.rollout = ?1 AND t.deployment = ?2 AND t.state IN ('waiting', 'timed-out', 'failed')"
    ))?;
    let mut out = Vec::new();
    for d in deployments {
        if let Some(o) = st.query_row(params![id, d], observed_row).optional()? {
            out.push(o);
        }
    }
    Ok(out)
}

/// Set one target's state.
pub(crate) fn set_target(
    c: &Connection,
    id: i64,
    deployment: &str,
    state: &str,
    error: Option<&str>,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE rollout_targets SET state = ?3, error = ?4 WHERE rollout = ?1 AND deployment = ?2",
        params![id, deployment, state, error],
    )?;
    Ok(())
}

/// Mark the deployments of rollout `id` superseded in every other active
/// rollout that has not finished with them: the newer change wins, and the
/// older rollout neither sends its own nor judges the device by it.
pub(crate) fn supersede_others(c: &Connection, id: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE rollout_targets SET state = 'superseded', error = ?2
         WHERE rollout != ?1
           AND rollout IN (SELECT id FROM rollouts WHERE state IN ('running', 'paused'))
           AND state IN ('pending', 'waiting', 'timed-out', 'failed')
           AND deployment IN (SELECT deployment FROM rollout_targets WHERE rollout = ?1)",
        params![id, format!("changed by rollout {id}")],
    )
}

/// Set every target of `wave` (every wave: 0) in state `from` to `to`.
pub(crate) fn set_targets(
    c: &Connection,
    id: i64,
    wave: i64,
    from: &str,
    to: &str,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE rollout_targets SET state = ?4 WHERE rollout = ?1 AND (?2 = 0 OR wave = ?2) AND state = ?3",
        params![id, wave, from, to],
    )
}

/// Set a rollout's state and why.
pub(crate) fn set_state(
    c: &Connection,
    id: i64,
    state: &str,
    reason: Option<&str>,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE rollouts SET state = ?2, reason = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, state, reason, crate::clock::now()],
    )?;
    Ok(())
}

/// Set the failures a rollout allows.
pub(crate) fn set_budget(c: &Connection, id: i64, budget: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE rollouts SET budget = ?2 WHERE id = ?1",
        params![id, budget],
    )?;
    Ok(())
}

/// Record that wave `wave` was sent at `at` (Unix seconds).
pub(crate) fn wave_sent(c: &Connection, id: i64, wave: i64, at: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE rollout_waves SET sent_at = ?3 WHERE rollout = ?1 AND number = ?2",
        params![id, wave, at],
    )?;
    c.execute(
        "UPDATE rollouts SET wave = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, wave, crate::clock::now()],
    )?;
    Ok(())
}

/// Record that wave `wave` finished at `at` (Unix seconds).
pub(crate) fn wave_done(c: &Connection, id: i64, wave: i64, at: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE rollout_waves SET done_at = ?3 WHERE rollout = ?1 AND number = ?2 AND done_at IS NULL",
        params![id, wave, at],
    )?;
    Ok(())
}

/// One wave: (number, size, sent at, done at), times in Unix seconds.
pub(crate) type WaveRow = (i64, i64, Option<i64>, Option<i64>);

/// A rollout's waves, in order.
pub(crate) fn waves(c: &Connection, id: i64) -> rusqlite::Result<Vec<WaveRow>> {
    let mut st = c.prepare(
        "SELECT number, size, sent_at, done_at FROM rollout_waves WHERE rollout = ?1 ORDER BY number",
    )?;
    st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect()
}

/// How many of a rollout's targets are in each state, per wave:
/// (wave, state, count).
pub(crate) fn tally(c: &Connection, id: i64) -> rusqlite::Result<Vec<(i64, String, i64)>> {
    let mut st = c.prepare(
        "SELECT wave, state, count(*) FROM rollout_targets WHERE rollout = ?1 GROUP BY wave, state",
    )?;
    st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(d: &str, wave: i64) -> TargetRow {
        TargetRow {
            deployment: d.to_owned(),
            site: "s".to_owned(),
            device: format!("dev-{d}"),
            app: "a".to_owned(),
            wave,
            change: "updated".to_owned(),
            from_version: Some("1".to_owned()),
            to_version: Some("2".to_owned()),
            new_doc: Some("new".to_owned()),
            new_digest: Some("sha256:x".to_owned()),
            old_doc: Some("old".to_owned()),
            state: "pending".to_owned(),
            error: None,
        }
    }

    #[test]
    fn a_rollout_is_recorded_with_its_waves_and_targets_in_order() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(super::super::reports::SCHEMA).unwrap();
        c.execute_batch(SCHEMA).unwrap();
        let r = NewRollout {
            description: "upgrade",
            by: "admin",
            policy: "{}",
            budget: 0,
            timeout_secs: 60,
            sites: "s",
            waves: &[1, 2],
        };
        let id = insert(
            &mut c,
            &r,
            &[target("b", 1), target("a", 2), target("c", 2)],
        )
        .unwrap();
        assert_eq!(active(&c).unwrap(), vec![id]);
        let all = targets(&c, id, 0, &[]).unwrap();
        let order: Vec<&str> = all.iter().map(|t| t.deployment.as_str()).collect();
        assert_eq!(order, ["b", "a", "c"]);
        assert_eq!(targets(&c, id, 2, &["pending"]).unwrap().len(), 2);
        wave_sent(&c, id, 1, 100).unwrap();
        assert_eq!(set_targets(&c, id, 1, "pending", "waiting").unwrap(), 1);
        assert_eq!(get(&c, id).unwrap().unwrap().wave, 1);
        let seen = observed(&c, id).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].reported, None, "no report yet");
        assert_eq!(count(&c, id, 0, &["waiting", "pending"]).unwrap(), 3);
        assert_eq!(count(&c, id, 1, &["waiting"]).unwrap(), 1);
        let shown = listing(&c, id).unwrap();
        assert_eq!(shown.len(), 3);
        assert!(
            shown
                .iter()
                .all(|t| t.new_doc.is_none() && t.old_doc.is_none())
        );
        set_state(&c, id, "done", None).unwrap();
        assert!(active(&c).unwrap().is_empty());
        let t = tally(&c, id).unwrap();
        assert!(t.contains(&(2, "pending".to_owned(), 2)), "{t:?}");

        // A newer rollout of `a` takes it from an active older one.
        set_state(&c, id, "running", None).unwrap();
        let newer = insert(&mut c, &r, &[target("a", 1)]).unwrap();
        assert_eq!(supersede_others(&c, newer).unwrap(), 1);
        let a = targets(&c, id, 0, &["superseded"]).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].deployment, "a");
        assert_eq!(
            a[0].error.as_deref(),
            Some(format!("changed by rollout {newer}").as_str())
        );
        assert_eq!(
            targets(&c, newer, 0, &["pending"]).unwrap().len(),
            1,
            "its own stay"
        );
    }
}
