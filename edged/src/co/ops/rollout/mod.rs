//! Rollouts: a change of deployments on more than one device goes out in
//! waves. Every operation that changes deployments (`deploy`, `update`,
//! `apply`) ends in [`commit`]: a change of one device is committed at
//! once; a bigger one (or any with a policy) is recorded as a rollout in
//! the CO's database — each target deployment with the exact document it
//! writes and the one it replaces — and its first wave is committed before
//! the answer. The driver (`drive`) sends the next waves as the devices of
//! each report the new document installed, and stops at a breach of the
//! failure budget: it pauses, or rolls back.
//!
//! Order: targets are sorted by site, device and deployment, then taken
//! from each site in turn, so early waves span sites. Removals (`apply
//! --prune`) go with the last wave.
//!
//! A rollout without a policy is one wave with every failure allowed: what
//! the change would have done anyway, now recorded, followed and undoable.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs;

use edge_api::types::{DeploymentSummary, Rollout, RolloutPolicy, RolloutTarget, RolloutWave};
use edge_model::{MargoDocument as _, digest};

use super::change::{self, SiteChange};
use crate::co::db::rollouts::{self as db, NewRollout, RolloutRow, TargetRow};
use crate::co::store::Store;
use crate::error::ApiError;

mod drive;

pub(crate) use drive::{act, run as drive};

/// How long a wave waits for its devices by default (seconds).
pub(crate) const DEFAULT_TIMEOUT: u64 = 600;
/// Longest wave timeout (a week).
const MAX_TIMEOUT: u64 = 7 * 24 * 3600;
/// Most waves a policy may list.
const MAX_WAVES: usize = 100;

/// One site's part of a change, with the head of its commit message.
pub(crate) struct Part {
    pub(crate) site: String,
    pub(crate) change: SiteChange,
    pub(crate) head: String,
}

/// Commit `parts` — at once when they change at most one device and no
/// policy is given, else as a rollout whose first wave is committed now.
/// The caller holds the store's write lock. Returns one summary per draft
/// and removal; those of a rollout name it and their wave.
pub(crate) fn commit(
    store: &Store,
    parts: Vec<Part>,
    by: &str,
    dry_run: bool,
    policy: Option<&RolloutPolicy>,
) -> Result<Vec<DeploymentSummary>, ApiError> {
    // What would change, site by site (reads the files; writes nothing).
    let mut planned = Vec::new();
    for p in &parts {
        planned.extend(change::commit_site(
            store,
            &p.site,
            p.change.clone(),
            &p.head,
            by,
            true,
        )?);
    }
    let changed: BTreeSet<(&str, &str)> = planned
        .iter()
        .filter(|s| s.change.as_deref() != Some("unchanged"))
        .map(|s| (s.site.as_str(), s.device.as_str()))
        .collect();
    if policy.is_none() && changed.len() <= 1 {
        // Nothing changes: what was planned is the answer, and no commit.
        if dry_run || changed.is_empty() {
            return Ok(planned);
        }
        let mut out = Vec::new();
        for p in parts {
            out.extend(change::commit_site(
                store, &p.site, p.change, &p.head, by, false,
            )?);
        }
        return Ok(out);
    }
    let targets = targets_of(store, &parts, &planned)?;
    let total = targets.len();
    let rules = Rules::of(policy, total)?;
    if targets.is_empty() {
        // Nothing to change: no rollout (and no commit).
        return Ok(planned);
    }
    let targets = order(targets, &rules.ends);
    let mut out = planned;
    let waves: HashMap<&str, i64> = targets
        .iter()
        .map(|t| (t.deployment.as_str(), t.wave))
        .collect();
    if dry_run {
        for s in &mut out {
            s.wave = waves
                .get(s.id.as_str())
                .and_then(|w| u32::try_from(*w).ok());
        }
        return Ok(out);
    }
    let description = describe(&parts);
    let policy_text = serde_json::to_string(&policy.cloned().unwrap_or_default())
        .map_err(|e| ApiError::internal(&e.into()))?;
    let sites: BTreeSet<&str> = targets.iter().map(|t| t.site.as_str()).collect();
    let sizes = rules.sizes();
    let id = db::insert(
        &mut store.db(),
        &NewRollout {
            description: &description,
            by,
            policy: &policy_text,
            budget: rules.budget,
            timeout_secs: rules.timeout,
            sites: &sites.into_iter().collect::<Vec<_>>().join(","),
            waves: &sizes,
        },
        &targets,
    )?;
    let taken = db::supersede_others(&store.db(), id)?;
    if taken > 0 {
        tracing::info!(
            rollout = id,
            taken,
            "deployments taken over from older rollouts"
        );
    }
    store.events().publish(
        "rollout.started",
        &id.to_string(),
        None,
        serde_json::json!({"description": description, "total": total, "waves": sizes.len(), "by": by}),
    );
    tracing::info!(rollout = id, total, waves = sizes.len(), "rollout started");
    // The first wave's documents are at hand: not parsed again from the record.
    let first: std::collections::HashSet<&str> = targets
        .iter()
        .filter(|t| t.wave == 1)
        .map(|t| t.deployment.as_str())
        .collect();
    let mut known: HashMap<String, edge_model::ApplicationDeployment> = HashMap::new();
    for p in parts {
        for d in p.change.drafts {
            let id = d.doc.id().to_string();
            if first.contains(id.as_str()) {
                known.insert(id, d.doc);
            }
        }
    }
    let sent = drive::send_wave(store, id, 1, &mut known)?;
    let commits: HashMap<String, String> = sent.into_iter().map(|s| (s.id, s.commit)).collect();
    for s in &mut out {
        if let Some(w) = waves.get(s.id.as_str()) {
            s.rollout = Some(id.to_string());
            s.wave = u32::try_from(*w).ok();
            match commits.get(&s.id) {
                Some(c) => c.clone_into(&mut s.commit),
                None if *w > 1 => s.commit.clear(),
                None => {}
            }
        }
    }
    Ok(out)
}

/// The commit message head of a rollout, from its parts.
fn describe(parts: &[Part]) -> String {
    let heads: BTreeSet<&str> = parts.iter().map(|p| p.head.as_str()).collect();
    heads.into_iter().collect::<Vec<_>>().join("; ")
}

/// The rollout targets of `parts`: each draft that changes and each removal.
fn targets_of(
    store: &Store,
    parts: &[Part],
    planned: &[DeploymentSummary],
) -> Result<Vec<TargetRow>, ApiError> {
    let kind: HashMap<&str, &str> = planned
        .iter()
        .map(|s| (s.id.as_str(), s.change.as_deref().unwrap_or("unchanged")))
        .collect();
    let mut out = Vec::new();
    for p in parts {
        let dir = store.site_repo(&p.site).join("deployments");
        for d in &p.change.drafts {
            let id = d.doc.id().to_string();
            let change = kind.get(id.as_str()).copied().unwrap_or("unchanged");
            if change == "unchanged" {
                continue;
            }
            let new_doc = d.doc.to_yaml();
            let old_doc = d
                .previous
                .as_ref()
                .and_then(|_| fs::read_to_string(dir.join(format!("{id}.yaml"))).ok());
            let row = change::row_of(&d.doc, new_doc.as_bytes(), &p.site, "", String::new());
            out.push(TargetRow {
                deployment: id,
                site: p.site.clone(),
                device: row.device,
                app: row.app_id,
                wave: 0,
                change: change.to_owned(),
                from_version: d.previous.as_ref().map(|r| r.version.clone()),
                to_version: Some(row.version),
                new_digest: Some(digest::sha256(new_doc.as_bytes()).as_str().to_owned()),
                new_doc: Some(new_doc),
                old_doc,
                state: "pending".to_owned(),
                error: None,
            });
        }
        for r in &p.change.removals {
            out.push(TargetRow {
                deployment: r.id.clone(),
                site: p.site.clone(),
                device: r.device.clone(),
                app: r.app_id.clone(),
                wave: 0,
                change: "removed".to_owned(),
                from_version: Some(r.version.clone()),
                to_version: None,
                new_doc: None,
                new_digest: None,
                old_doc: fs::read_to_string(dir.join(format!("{}.yaml", r.id))).ok(),
                state: "pending".to_owned(),
                error: None,
            });
        }
    }
    Ok(out)
}

/// Put `targets` in rollout order and give each its wave: sites take
/// turns; removals go last, with the last wave.
fn order(mut targets: Vec<TargetRow>, ends: &[usize]) -> Vec<TargetRow> {
    targets.sort_by(|a, b| {
        (&a.site, &a.device, &a.deployment).cmp(&(&b.site, &b.device, &b.deployment))
    });
    let (removals, changes): (Vec<TargetRow>, Vec<TargetRow>) =
        targets.into_iter().partition(|t| t.change == "removed");
    let mut by_site: BTreeMap<String, VecDeque<TargetRow>> = BTreeMap::new();
    for t in changes {
        by_site.entry(t.site.clone()).or_default().push_back(t);
    }
    let mut out = Vec::new();
    while by_site.values().any(|q| !q.is_empty()) {
        for q in by_site.values_mut() {
            if let Some(t) = q.pop_front() {
                out.push(t);
            }
        }
    }
    out.extend(removals);
    let last = i64::try_from(ends.len()).unwrap_or(1).max(1);
    for (i, t) in out.iter_mut().enumerate() {
        let wave = ends
            .iter()
            .position(|&end| i < end)
            .map_or(last, |w| i64::try_from(w + 1).unwrap_or(last));
        t.wave = if t.change == "removed" { last } else { wave };
    }
    out
}

/// A policy worked out for a number of targets.
#[derive(Debug, PartialEq, Eq)]
struct Rules {
    /// Where each wave ends (cumulative counts; the last is the total).
    ends: Vec<usize>,
    budget: i64,
    timeout: i64,
}

impl Rules {
    /// The rules of `policy` (none: one wave, every failure allowed) for
    /// `total` targets; a clear error for anything that does not read.
    fn of(policy: Option<&RolloutPolicy>, total: usize) -> Result<Self, ApiError> {
        let total_i = i64::try_from(total).unwrap_or(i64::MAX);
        let Some(p) = policy else {
            return Ok(Self {
                ends: vec![total],
                budget: total_i,
                timeout: i64::try_from(DEFAULT_TIMEOUT).unwrap_or(600),
            });
        };
        let mut ends = match (&p.batch, p.waves.is_empty()) {
            (Some(_), false) => {
                return Err(ApiError::bad_request(
                    "give waves or a batch size, not both",
                ));
            }
            (Some(0), true) => {
                return Err(ApiError::bad_request("a batch holds at least one device"));
            }
            (Some(b), true) => {
                let b = usize::try_from(*b).unwrap_or(usize::MAX);
                (1..=total.div_ceil(b).max(1))
                    .map(|i| (i * b).min(total))
                    .collect()
            }
            (None, _) => {
                if p.waves.len() > MAX_WAVES {
                    return Err(ApiError::bad_request(format!(
                        "at most {MAX_WAVES} waves, not {}",
                        p.waves.len()
                    )));
                }
                let mut ends = Vec::new();
                for w in &p.waves {
                    ends.push(amount(w, total, true, "wave")?);
                }
                ends
            }
        };
        ends.push(total);
        let mut clean: Vec<usize> = Vec::new();
        for e in ends {
            let e = e.min(total);
            if e > clean.last().copied().unwrap_or(0) {
                clean.push(e);
            }
        }
        if clean.is_empty() {
            clean.push(total);
        }
        let budget = match &p.max_failures {
            Some(m) => amount(m, total, false, "failure budget")?,
            None => 0,
        };
        let timeout = p.wave_timeout_secs.unwrap_or(DEFAULT_TIMEOUT);
        if timeout == 0 || timeout > MAX_TIMEOUT {
            return Err(ApiError::bad_request(format!(
                "a wave's timeout is 1 second to 7 days, not {timeout} s"
            )));
        }
        Ok(Self {
            ends: clean,
            budget: i64::try_from(budget).unwrap_or(i64::MAX),
            timeout: i64::try_from(timeout).unwrap_or(600),
        })
    }

    /// Each wave's size.
    fn sizes(&self) -> Vec<i64> {
        let mut prev = 0;
        self.ends
            .iter()
            .map(|&e| {
                let s = e - prev;
                prev = e;
                i64::try_from(s).unwrap_or(i64::MAX)
            })
            .collect()
    }
}

/// A count (`3`) or a share (`10%`) of `total`: shares of waves round up
/// (a wave of 10% of 5 devices is one device), of budgets down.
fn amount(text: &str, total: usize, up: bool, what: &str) -> Result<usize, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "`{text}` is not a {what}: give a count of devices (`2`) or a share of them (`10%`)"
        ))
    };
    let t = text.trim();
    if let Some(share) = t.strip_suffix('%') {
        let p: f64 = share.trim().parse().map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&p) || !p.is_finite() {
            return Err(bad());
        }
        // Integer arithmetic on hundredths of a percent: exact for the
        // shares people write (10%, 12.5%).
        let hundredths = (p * 100.0).round() as u128;
        let scaled = total as u128 * hundredths;
        let n = if up {
            scaled.div_ceil(10_000)
        } else {
            scaled / 10_000
        };
        return Ok(usize::try_from(n).unwrap_or(total));
    }
    t.parse::<usize>().map_err(|_| bad())
}

/// The rollouts, newest first (at most `limit`, default 50).
pub(crate) fn list(store: &Store, limit: Option<usize>) -> Result<Vec<Rollout>, ApiError> {
    let limit = i64::try_from(limit.unwrap_or(50).clamp(1, 1000)).unwrap_or(50);
    let conn = store.db();
    let rows = db::list(&conn, limit)?;
    rows.into_iter()
        .map(|r| view(&conn, r, false))
        .collect::<rusqlite::Result<_>>()
        .map_err(Into::into)
}

/// One rollout with its targets, by id.
pub(crate) fn show(store: &Store, id: &str) -> Result<Rollout, ApiError> {
    let conn = store.db();
    let row = find(&conn, id)?;
    Ok(view(&conn, row, true)?)
}

/// The rollout `id` names.
pub(crate) fn find(conn: &rusqlite::Connection, id: &str) -> Result<RolloutRow, ApiError> {
    let n: i64 = id
        .trim()
        .trim_start_matches('#')
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not a rollout id (a number)")))?;
    db::get(conn, n)?.ok_or_else(|| ApiError::not_found(format!("no rollout `{id}`")))
}

/// A rollout as the API shows it.
fn view(
    conn: &rusqlite::Connection,
    r: RolloutRow,
    with_targets: bool,
) -> rusqlite::Result<Rollout> {
    let tally = db::tally(conn, r.id)?;
    let count = |wave: i64, states: &[&str]| -> u32 {
        let n: i64 = tally
            .iter()
            .filter(|(w, s, _)| (wave == 0 || *w == wave) && states.contains(&s.as_str()))
            .map(|(_, _, n)| n)
            .sum();
        u32::try_from(n).unwrap_or(u32::MAX)
    };
    let waves = db::waves(conn, r.id)?
        .into_iter()
        .map(|(number, size, sent, done)| RolloutWave {
            number: u32::try_from(number).unwrap_or(0),
            size: u32::try_from(size).unwrap_or(0),
            healthy: count(number, &["healthy"]),
            failed: count(number, &["failed", "timed-out"]),
            waiting: count(number, &["waiting"]),
            state: match (sent, done, r.state.as_str()) {
                (None, _, "rolled-back" | "undone") => "cancelled",
                (None, _, _) => "pending",
                (Some(_), _, "rolled-back" | "undone") => "rolled-back",
                (Some(_), None, "paused") => "paused",
                (Some(_), None, _) => "running",
                (Some(_), Some(_), _) => "done",
            }
            .to_owned(),
            sent_at: sent.map(crate::clock::format_unix),
            deadline: match (sent, done) {
                (Some(s), None) if drive::ACTIVE.contains(&r.state.as_str()) => {
                    Some(crate::clock::format_unix(s + r.timeout_secs))
                }
                _ => None,
            },
        })
        .collect();
    let targets = if with_targets {
        db::listing(conn, r.id)?
            .into_iter()
            .map(|t| RolloutTarget {
                deployment: t.deployment,
                site: t.site,
                device: t.device,
                app: t.app,
                wave: u32::try_from(t.wave).unwrap_or(0),
                change: t.change,
                from_version: t.from_version,
                to_version: t.to_version,
                state: t.state,
                error: t.error,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Rollout {
        id: r.id.to_string(),
        state: r.state,
        reason: r.reason,
        description: r.description,
        by: r.by,
        created_at: r.created_at,
        updated_at: r.updated_at,
        policy: serde_json::from_str(&r.policy).unwrap_or_default(),
        sites: r
            .sites
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        total: tally
            .iter()
            .map(|(_, _, n)| u32::try_from(*n).unwrap_or(0))
            .sum(),
        budget: u32::try_from(r.budget).unwrap_or(u32::MAX),
        failures: count(0, &["failed", "timed-out"]),
        wave: u32::try_from(r.wave).unwrap_or(0),
        waves,
        targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(waves: &[&str], batch: Option<u32>, budget: Option<&str>) -> RolloutPolicy {
        RolloutPolicy {
            waves: waves.iter().map(|w| (*w).to_owned()).collect(),
            batch,
            max_failures: budget.map(str::to_owned),
            ..RolloutPolicy::default()
        }
    }

    #[test]
    fn waves_are_cumulative_counts_or_shares_and_always_reach_everyone() {
        let r = Rules::of(Some(&policy(&["1", "10%", "50%", "100%"], None, None)), 12).unwrap();
        assert_eq!(r.ends, vec![1, 2, 6, 12]);
        assert_eq!(r.sizes(), vec![1, 1, 4, 6]);
        assert_eq!(r.budget, 0);
        // Shares that round to the same device, and a list short of 100%.
        let r = Rules::of(Some(&policy(&["1", "5%", "25%"], None, None)), 4).unwrap();
        assert_eq!(r.ends, vec![1, 4]);
        let r = Rules::of(Some(&policy(&[], Some(5), Some("10%"))), 12).unwrap();
        assert_eq!(r.ends, vec![5, 10, 12]);
        assert_eq!(r.budget, 1, "budgets round down");
        let r = Rules::of(None, 7).unwrap();
        assert_eq!((r.ends, r.budget), (vec![7], 7));
    }

    #[test]
    fn a_policy_that_does_not_read_is_refused() {
        for (p, needle) in [
            (policy(&["ten"], None, None), "`ten` is not a wave"),
            (policy(&["150%"], None, None), "`150%` is not a wave"),
            (policy(&["1"], Some(2), None), "not both"),
            (policy(&[], Some(0), None), "at least one"),
            (
                policy(&["1"], None, Some("-1")),
                "`-1` is not a failure budget",
            ),
        ] {
            let e = Rules::of(Some(&p), 10).unwrap_err();
            assert!(e.detail().contains(needle), "{}", e.detail());
        }
        let mut p = policy(&[], None, None);
        p.wave_timeout_secs = Some(0);
        assert!(Rules::of(Some(&p), 3).is_err());
    }

    #[test]
    fn sites_take_turns_and_removals_go_last() {
        let t = |site: &str, dev: &str, change: &str| TargetRow {
            deployment: format!("{site}-{dev}"),
            site: site.to_owned(),
            device: dev.to_owned(),
            app: "a".to_owned(),
            wave: 0,
            change: change.to_owned(),
            from_version: None,
            to_version: None,
            new_doc: None,
            new_digest: None,
            old_doc: None,
            state: "pending".to_owned(),
            error: None,
        };
        let targets = vec![
            t("b", "1", "updated"),
            t("a", "2", "updated"),
            t("a", "1", "removed"),
            t("a", "1", "updated"),
            t("b", "2", "created"),
        ];
        // Same ids for the removal and update on a/1 would not happen; rename.
        let mut targets = targets;
        targets[2].deployment = "a-1-old".to_owned();
        let out = order(targets, &[2, 5]);
        let got: Vec<(&str, i64)> = out
            .iter()
            .map(|t| (t.deployment.as_str(), t.wave))
            .collect();
        assert_eq!(
            got,
            [
                ("a-1", 1),
                ("b-1", 1),
                ("a-2", 2),
                ("b-2", 2),
                ("a-1-old", 2)
            ]
        );
    }
}
