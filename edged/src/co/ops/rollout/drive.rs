//! Driving rollouts: sending a wave, judging it from what its devices
//! report, and on a breach pausing or rolling back; the user's pause,
//! resume and undo; and the task that does it whenever something happens.
//!
//! A target is healthy once its device reports `installed` about the very
//! document the rollout wrote (the report's digest, which the LO or the CO
//! ties to the manifest version the device acted on) — a report about the
//! previous version counts for nothing. It has failed when its device
//! reports `failed` about that document, or when its wave's time runs out
//! first (`timed-out`; a late `installed` still makes it healthy).
//!
//! Everything is recorded before it is acted on and every step is
//! idempotent: a wave is sent by writing the recorded documents, and
//! writing bytes that are already there makes no commit. So a CO killed in
//! the middle of a wave sends it again on start, and nothing reaches a
//! device twice. A deployment changed by someone else since the rollout
//! recorded it is left alone (`superseded`), never overwritten.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::sync::Arc;
use std::time::Duration;

use edge_api::types::DeploymentSummary;
use edge_model::{ApplicationDeployment, MargoDocument as _};

use super::super::change::{self, Draft, SiteChange};
use crate::co::db::deployments as index;
use crate::co::db::rollouts::{self as db, RolloutRow, TargetRow};
use crate::co::store::Store;
use crate::error::ApiError;

pub(crate) use db::ACTIVE;

/// Longest the driver sleeps without an event (it also wakes on every one).
const IDLE: Duration = Duration::from_secs(30);

/// Drive every rollout until the process ends: a step on start (a CO that
/// was killed resumes its rollouts), then one whenever an event is
/// published or a wave's time runs out.
///
/// A step after events judges only the deployments those events reported
/// on (a 10,000-device rollout is not read whole for every intake batch);
/// on start, on a timer, and when the ring dropped events the driver did
/// not see, it judges every target.
pub(crate) async fn run(store: Arc<Store>) {
    let mut bell = store.events().subscribe();
    let mut seen = store.events().newest();
    let mut reported: Option<HashSet<String>> = None;
    loop {
        let s = store.clone();
        let only = reported.take();
        let next = tokio::task::spawn_blocking(move || step(&s, only.as_ref()))
            .await
            .unwrap_or(None);
        let wait = next.map_or(IDLE, |d| d.min(IDLE));
        tokio::select! {
            r = bell.changed() => {
                if r.is_err() { return }
                let (events, gap) = store.events().after(seen);
                seen = events.last().map_or(seen, |e| e.id);
                if !gap {
                    reported = Some(
                        events.into_iter().filter(|e| e.kind == "status").map(|e| e.subject).collect(),
                    );
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Move every active rollout on, judging the targets among the deployments
/// `only` names (all of them: `None`); how long until the nearest wave
/// deadline.
fn step(store: &Store, only: Option<&HashSet<String>>) -> Option<Duration> {
    // Most events come while no rollout is active: look before locking.
    if db::active(&store.db()).is_ok_and(|ids| ids.is_empty()) {
        return None;
    }
    let _w = store.write_lock();
    let ids = match db::active(&store.db()) {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the rollouts");
            return None;
        }
    };
    let mut next: Option<i64> = None;
    for id in ids {
        match advance(store, id, only) {
            Ok(Some(left)) => next = Some(next.map_or(left, |n| n.min(left))),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(rollout = id, error = %e.detail(), "cannot move the rollout on");
            }
        }
    }
    next.map(|s| Duration::from_secs(u64::try_from(s.max(1)).unwrap_or(1)))
}

/// Judge rollout `id` from the reports and move it on; the seconds until
/// its running wave's deadline.
fn advance(
    store: &Store,
    id: i64,
    only: Option<&HashSet<String>>,
) -> Result<Option<i64>, ApiError> {
    let Some(r) = db::get(&store.db(), id)? else {
        return Ok(None);
    };
    observe(store, &r, only)?;
    if r.state != "running" {
        return Ok(None);
    }
    if r.wave == 0 {
        send_wave(store, id, 1, &mut HashMap::new())?;
        return Ok(Some(r.timeout_secs));
    }
    let failures = failures(store, id)?;
    if failures > r.budget {
        breach(store, &r, failures)?;
        return Ok(None);
    }
    let waves = db::waves(&store.db(), id)?;
    let sent_at = waves
        .iter()
        .find(|w| w.0 == r.wave)
        .and_then(|w| w.2)
        .unwrap_or_else(crate::clock::unix_now);
    let waiting = db::count(&store.db(), id, r.wave, &["waiting"])?;
    let now = crate::clock::unix_now();
    let deadline = sent_at + r.timeout_secs;
    if waiting > 0 && now < deadline {
        return Ok(Some(deadline - now));
    }
    if waiting > 0 {
        let n = db::set_targets(&store.db(), id, r.wave, "waiting", "timed-out")?;
        tracing::warn!(rollout = id, wave = r.wave, devices = n, "wave timed out");
        let failures = self::failures(store, id)?;
        if failures > r.budget {
            breach(store, &r, failures)?;
            return Ok(None);
        }
    }
    db::wave_done(&store.db(), id, r.wave, now)?;
    publish(
        store,
        id,
        "rollout.wave-done",
        serde_json::json!({"wave": r.wave, "waves": r.waves}),
    );
    if r.wave >= r.waves {
        let failures = self::failures(store, id)?;
        let reason = (failures > 0).then(|| {
            format!(
                "{failures} device(s) failed or did not report in time, within the budget of {}",
                r.budget
            )
        });
        db::set_state(&store.db(), id, "done", reason.as_deref())?;
        publish(
            store,
            id,
            "rollout.done",
            serde_json::json!({"reason": reason}),
        );
        tracing::info!(rollout = id, failures, "rollout done");
        return Ok(None);
    }
    send_wave(store, id, r.wave + 1, &mut HashMap::new())?;
    Ok(Some(r.timeout_secs))
}

/// Targets failed or timed out.
fn failures(store: &Store, id: i64) -> Result<i64, ApiError> {
    Ok(db::count(&store.db(), id, 0, &["failed", "timed-out"])?)
}

/// Take in what the devices of sent targets reported about the documents
/// the rollout wrote (of the deployments `only` names, when it names some).
fn observe(store: &Store, r: &RolloutRow, only: Option<&HashSet<String>>) -> Result<(), ApiError> {
    let seen = match only {
        None => db::observed(&store.db(), r.id)?,
        Some(deployments) if deployments.is_empty() => return Ok(()),
        Some(deployments) => db::observed_among(&store.db(), r.id, deployments)?,
    };
    let mut changed = Vec::new();
    for o in seen {
        if o.digest.is_none() || o.about != o.digest {
            continue;
        }
        let now = match o.reported.as_deref() {
            Some("installed") => "healthy",
            Some("failed") => "failed",
            _ => continue,
        };
        if now != o.state {
            changed.push((o, now));
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    let mut conn = store.db();
    let tx = conn.transaction()?;
    for (o, now) in &changed {
        db::set_target(&tx, r.id, &o.deployment, now, o.error.as_deref())?;
    }
    tx.commit()?;
    drop(conn);
    for (o, now) in changed {
        publish(
            store,
            r.id,
            "rollout.device",
            serde_json::json!({"deployment": o.deployment, "site": o.site, "device": o.device,
                               "wave": o.wave, "state": now, "error": o.error}),
        );
    }
    Ok(())
}

/// The failure budget is exceeded: roll back, or pause.
fn breach(store: &Store, r: &RolloutRow, failures: i64) -> Result<(), ApiError> {
    let first = db::targets(&store.db(), r.id, 0, &["failed", "timed-out"])?
        .into_iter()
        .next()
        .map(|t| match t.error {
            Some(e) => format!("; {} on {}: {e}", t.state, t.device),
            None => format!("; {} on {}", t.state, t.device),
        })
        .unwrap_or_default();
    let reason = format!(
        "{failures} device(s) failed or did not report in time, over the budget of {}{first}",
        r.budget
    );
    let policy: edge_api::types::RolloutPolicy =
        serde_json::from_str(&r.policy).unwrap_or_default();
    tracing::warn!(rollout = r.id, reason, "rollout stopped");
    if policy.auto_rollback {
        roll_back(store, r, "rolled-back", &reason, "rollout")
    } else {
        pause(store, r.id, &reason)
    }
}

/// Stop sending waves of rollout `id`, saying why.
fn pause(store: &Store, id: i64, reason: &str) -> Result<(), ApiError> {
    db::set_state(&store.db(), id, "paused", Some(reason))?;
    publish(
        store,
        id,
        "rollout.paused",
        serde_json::json!({"reason": reason}),
    );
    Ok(())
}

/// Send wave `wave` of rollout `id`: write its recorded documents, one
/// commit per site (none where they are there already), then record it.
/// `known` holds documents already parsed, by deployment id (the first
/// wave's, sent as the rollout is made); the others are read from the
/// record.
pub(crate) fn send_wave(
    store: &Store,
    id: i64,
    wave: i64,
    known: &mut HashMap<String, ApplicationDeployment>,
) -> Result<Vec<DeploymentSummary>, ApiError> {
    let Some(r) = db::get(&store.db(), id)? else {
        return Ok(Vec::new());
    };
    let targets = db::targets(&store.db(), id, wave, &["pending"])?;
    let mut by_site: BTreeMap<String, (SiteChange, Vec<&TargetRow>)> = BTreeMap::new();
    let mut superseded = Vec::new();
    for t in &targets {
        let current = read(store, t);
        let (site_change, sent) = by_site
            .entry(t.site.clone())
            .or_insert_with(|| (SiteChange::from(Vec::new()), Vec::new()));
        let row = index::deployment(&store.db(), &t.deployment)?;
        // The file must still be what the rollout recorded (or already
        // what it writes: a wave sent again after a crash).
        let ours = current == t.old_doc || (current.is_some() && current == t.new_doc);
        if !ours {
            superseded.push(t.deployment.clone());
            continue;
        }
        match known.remove(&t.deployment) {
            Some(doc) if t.new_doc.is_some() => {
                site_change.drafts.push(Draft { doc, previous: row });
            }
            _ => make(site_change, t.new_doc.as_deref(), &t.deployment, row)?,
        }
        sent.push(t);
    }
    let mut out = Vec::new();
    for (site, (site_change, _)) in by_site {
        if site_change.drafts.is_empty() && site_change.removals.is_empty() {
            continue;
        }
        let head = format!(
            "{} (rollout {id}, wave {wave} of {})",
            r.description, r.waves
        );
        out.extend(change::commit_site(
            store,
            &site,
            site_change,
            &head,
            &r.by,
            false,
        )?);
    }
    // One transaction: a wave's thousand targets are one write, not a
    // thousand synchronous ones.
    let mut conn = store.db();
    let tx = conn.transaction()?;
    for d in &superseded {
        db::set_target(
            &tx,
            id,
            d,
            "superseded",
            Some("changed by something else since the rollout began"),
        )?;
    }
    for t in &targets {
        if superseded.contains(&t.deployment) {
            continue;
        }
        let state = if t.new_doc.is_some() {
            "waiting"
        } else {
            "healthy"
        };
        db::set_target(&tx, id, &t.deployment, state, None)?;
    }
    db::wave_sent(&tx, id, wave, crate::clock::unix_now())?;
    tx.commit()?;
    drop(conn);
    publish(
        store,
        id,
        "rollout.wave",
        serde_json::json!({"wave": wave, "waves": r.waves, "devices": targets.len() - superseded.len(),
                           "superseded": superseded.len()}),
    );
    tracing::info!(rollout = id, wave, devices = targets.len(), "wave sent");
    Ok(out)
}

/// Put the previous documents back on every deployment the rollout sent
/// (one commit per site), cancel the waves not sent, and end the rollout
/// in `state` (`rolled-back`, `undone`).
fn roll_back(
    store: &Store,
    r: &RolloutRow,
    state: &str,
    reason: &str,
    by: &str,
) -> Result<(), ApiError> {
    let sent = db::targets(
        &store.db(),
        r.id,
        0,
        &["waiting", "healthy", "failed", "timed-out"],
    )?;
    let mut by_site: BTreeMap<String, SiteChange> = BTreeMap::new();
    let mut restored = Vec::new();
    let mut moved_on = Vec::new();
    for t in &sent {
        let current = read(store, t);
        if current != t.new_doc {
            moved_on.push(t.deployment.clone());
            continue;
        }
        let row = index::deployment(&store.db(), &t.deployment)?;
        let site_change = by_site
            .entry(t.site.clone())
            .or_insert_with(|| SiteChange::from(Vec::new()));
        make(site_change, t.old_doc.as_deref(), &t.deployment, row)?;
        restored.push((t.deployment.clone(), t.error.clone()));
    }
    for (site, site_change) in by_site {
        let head = format!("roll back rollout {}: {}", r.id, r.description);
        let by = if by == "rollout" { r.by.as_str() } else { by };
        change::commit_site(store, &site, site_change, &head, by, false)?;
    }
    let mut conn = store.db();
    let tx = conn.transaction()?;
    // A failure's error stays: it says why the rollout went back.
    for (d, error) in &restored {
        db::set_target(&tx, r.id, d, "rolled-back", error.as_deref())?;
    }
    for d in &moved_on {
        db::set_target(
            &tx,
            r.id,
            d,
            "superseded",
            Some("changed by something else since; left as it is"),
        )?;
    }
    db::set_targets(&tx, r.id, 0, "pending", "cancelled")?;
    db::set_state(&tx, r.id, state, Some(reason))?;
    tx.commit()?;
    drop(conn);
    publish(
        store,
        r.id,
        &format!("rollout.{state}"),
        serde_json::json!({"reason": reason, "restored": restored.len(), "superseded": moved_on.len()}),
    );
    tracing::warn!(
        rollout = r.id,
        restored = restored.len(),
        state,
        "rollout rolled back"
    );
    Ok(())
}

/// The user's `pause`, `resume` or `undo` of rollout `id`.
pub(crate) fn act(
    store: &Store,
    id: &str,
    action: &str,
    by: &str,
) -> Result<edge_api::types::Rollout, ApiError> {
    {
        let _w = store.write_lock();
        let r = super::find(&store.db(), id)?;
        let over = !ACTIVE.contains(&r.state.as_str());
        match action {
            "pause" if r.state == "running" => pause(store, r.id, &format!("paused by {by}"))?,
            "resume" if r.state == "paused" => {
                // The failures so far are accepted: the budget counts on from them.
                let failures = failures(store, r.id)?;
                let total = usize::try_from(db::count(&store.db(), r.id, 0, &[])?).unwrap_or(0);
                let policy: edge_api::types::RolloutPolicy =
                    serde_json::from_str(&r.policy).unwrap_or_default();
                let given =
                    (policy != edge_api::types::RolloutPolicy::default()).then_some(&policy);
                let base = super::Rules::of(given, total).map_or(0, |rules| rules.budget);
                db::set_budget(&store.db(), r.id, r.budget.max(failures + base))?;
                db::set_state(
                    &store.db(),
                    r.id,
                    "running",
                    Some(&format!("resumed by {by}")),
                )?;
                publish(
                    store,
                    r.id,
                    "rollout.resumed",
                    serde_json::json!({"by": by}),
                );
            }
            "undo" if r.state != "undone" && r.state != "rolled-back" => {
                roll_back(store, &r, "undone", &format!("undone by {by}"), by)?;
            }
            "pause" | "resume" | "undo" => {
                let why = if over {
                    "it is over"
                } else {
                    "it is not in a state for that"
                };
                return Err(ApiError::conflict(format!(
                    "rollout {} is {} and cannot {action}: {why}",
                    r.id, r.state
                )));
            }
            other => {
                return Err(ApiError::not_found(format!(
                    "no rollout action `{other}`: pause, resume or undo"
                )));
            }
        }
    }
    // Resume may have a wave to send now.
    if action == "resume" {
        let _w = store.write_lock();
        let r = super::find(&store.db(), id)?;
        advance(store, r.id, None)?;
    }
    super::show(store, id)
}

/// The text of a target's file now (none when it is absent).
fn read(store: &Store, t: &TargetRow) -> Option<String> {
    fs::read_to_string(
        store
            .site_repo(&t.site)
            .join("deployments")
            .join(format!("{}.yaml", t.deployment)),
    )
    .ok()
}

/// Add to `change` what makes deployment `id` (whose index row is `row`)
/// be `text`, a recorded document: that document written, or with none,
/// the deployment removed.
fn make(
    change: &mut SiteChange,
    text: Option<&str>,
    id: &str,
    row: Option<crate::co::db::deployments::DeploymentRow>,
) -> Result<(), ApiError> {
    match (text, row) {
        (Some(text), previous) => change.drafts.push(Draft {
            doc: parse(text, id)?,
            previous,
        }),
        (None, Some(row)) => change.removals.push(row),
        (None, None) => {}
    }
    Ok(())
}

/// A recorded document.
fn parse(text: &str, id: &str) -> Result<ApplicationDeployment, ApiError> {
    ApplicationDeployment::from_slice(text.as_bytes())
        .map(|d| d.document)
        .map_err(|e| {
            ApiError::internal(&anyhow::anyhow!(
                "the recorded document of deployment `{id}` does not read: {e}"
            ))
        })
}

fn publish(store: &Store, id: i64, kind: &str, data: serde_json::Value) {
    store.events().publish(kind, &id.to_string(), None, data);
}
