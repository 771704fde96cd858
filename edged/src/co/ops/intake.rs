//! Intake: observed state arriving at the CO — device capabilities and
//! deployment status, in batches from an LO's outbox (over the south
//! listener, or carried on a stick) — stored and published as events.
//!
//! Intake is exactly-once and in order: every batch carries the LO's outbox
//! epoch and sequence numbers, the CO stores the last one it applied in the
//! same transaction as the reports, and skips anything at or below it.
//!
//! An LO speaks only for its own site: a batch with an entry for a device
//! of another site (or one the CO does not know, unless it was removed from
//! this site since: its entries are dropped), or for a deployment the
//! CO placed at another site or device, is refused whole (403, nothing
//! stored, no event) — a genuine LO never relays one. A report for a
//! deployment the CO does not know is dropped alone (not stored, no event,
//! acknowledged): that is also what a genuine report looks like for a
//! deployment deleted before its first report arrived, and refusing the
//! batch would hold up the LO's outbox forever. So a site's stored reports
//! are bounded by the deployments the CO placed there.

use std::collections::HashMap;

use edge_api::types::{IntakeBatch, IntakeEntry};
use edge_model::MargoDocument as _;
use edge_model::capabilities::DeviceCapabilitiesManifest;
use edge_model::status::DeploymentStatusManifest;
use rusqlite::Connection;

use crate::co::db::{identities, reports, sites};
use crate::co::store::Store;
use crate::error::ApiError;
use crate::south::view::client_of;

/// Largest intake batch, bytes of JSON (an LO sends at most 2 MiB of
/// reports, or one report of at most 1 MiB, escaped).
pub(crate) const MAX_INTAKE: usize = 16 * 1024 * 1024;

/// An intake batch from a request body (bounded by the route's limit).
pub(crate) fn read_batch(body: &[u8]) -> Result<IntakeBatch, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the intake batch is not valid: {e}")))
}

/// Status and capabilities forwarded by the LO of `site`; the last
/// sequence number now stored.
pub(crate) fn from_lo(store: &Store, site: &str, batch: &IntakeBatch) -> Result<i64, ApiError> {
    let started = std::time::Instant::now();
    let acked = apply_batch(store, site, batch)?;
    tracing::debug!(target: "latency", site, entries = batch.entries.len(), acked, took = ?started.elapsed(), "reports taken in");
    Ok(acked)
}

/// Status and capabilities of `site` carried on a stick (`edgectl lo
/// export-status`, then `edgectl co import-status`): the same batches an LO
/// forwards, applied once each however often they arrive.
pub(crate) fn from_stick(store: &Store, site: &str, batch: &IntakeBatch) -> Result<i64, ApiError> {
    super::suggest::known_site(&store.db(), site, "")?;
    let acked = apply_batch(store, site, batch)?;
    tracing::info!(
        site,
        entries = batch.entries.len(),
        acked,
        "reports taken in from a stick"
    );
    Ok(acked)
}

/// The `status` event of a stored report about the document with `digest`;
/// `current` says whether that is the deployment's document now (so a
/// client waiting for a change can tell a report of the change from one of
/// the state before).
pub(crate) fn status_event(
    c: &Connection,
    device: &str,
    doc: &DeploymentStatusManifest,
    digest: Option<&str>,
) -> Published {
    let now = reports::placement(c, doc.deployment_id.as_str())
        .ok()
        .flatten()
        .and_then(|p| p.digest);
    status_event_about(device, doc, digest, now.as_deref())
}

/// [`status_event`] when the digest of the deployment's document `now` is
/// known (`None`: deleted since, or not known).
fn status_event_about(
    device: &str,
    doc: &DeploymentStatusManifest,
    digest: Option<&str>,
    now: Option<&str>,
) -> Published {
    let current = now.map(|now| Some(now) == digest);
    let error = doc.components.iter().find_map(|c| {
        c.error
            .as_ref()
            .map(|e| format!("{}: {}", c.name, e.message.as_deref().unwrap_or_default()))
    });
    (
        "status",
        doc.deployment_id.to_string(),
        serde_json::json!({"device": device, "state": doc.status.state.to_string(), "error": error,
                           "current": current}),
    )
}

/// Apply one batch from the LO of `site` in one transaction; returns the
/// last sequence number now stored.
pub(crate) fn apply_batch(store: &Store, site: &str, batch: &IntakeBatch) -> Result<i64, ApiError> {
    let mut published = Vec::new();
    // Bodies are parsed and checked before the database is locked, so
    // batches from several LOs are read in parallel.
    let bodies: Vec<Body> = batch.entries.iter().map(Body::read).collect();
    let last = apply_entries(&mut store.db(), site, batch, bodies, &mut published)?;
    store.metrics.intake(batch.entries.len());
    for (kind, subject, data) in published {
        store.events().publish(kind, &subject, Some(site), data);
    }
    Ok(last)
}

/// An event to publish once the batch is stored: kind, subject, details.
pub(crate) type Published = (&'static str, String, serde_json::Value);

/// An entry's body, read once.
enum Body {
    Capabilities(Option<DeviceCapabilitiesManifest>),
    Status(Result<DeploymentStatusManifest, String>),
    CapabilitiesDeleted,
    Unknown,
}

impl Body {
    fn read(e: &IntakeEntry) -> Body {
        match e.kind.as_str() {
            "capabilities" => Body::Capabilities(
                DeviceCapabilitiesManifest::from_slice(e.body.as_bytes())
                    .ok()
                    .map(|d| d.document)
                    .filter(|d| d.properties.id.as_str() == e.device),
            ),
            "status" => Body::Status(
                DeploymentStatusManifest::from_slice(e.body.as_bytes())
                    .map(|d| d.document)
                    .map_err(|err| err.to_string()),
            ),
            "capabilities-deleted" => Body::CapabilitiesDeleted,
            _ => Body::Unknown,
        }
    }
}

/// What a batch looks up, asked once per device and deployment.
#[derive(Default)]
struct Lookups {
    sites: HashMap<String, Option<String>>,
    placements: HashMap<String, Option<reports::Placement>>,
}

impl Lookups {
    fn site(&mut self, c: &Connection, device: &str) -> rusqlite::Result<Option<&str>> {
        if !self.sites.contains_key(device) {
            let site = sites::site_of(c, device)?;
            self.sites.insert(device.to_owned(), site);
        }
        Ok(self.sites.get(device).and_then(Option::as_deref))
    }

    fn placement(
        &mut self,
        c: &Connection,
        id: &str,
    ) -> rusqlite::Result<Option<&reports::Placement>> {
        if !self.placements.contains_key(id) {
            let p = reports::placement(c, id)?;
            self.placements.insert(id.to_owned(), p);
        }
        Ok(self.placements.get(id).and_then(Option::as_ref))
    }
}

/// Store `batch`, whose entries' `bodies` are read, in one transaction.
fn apply_entries(
    c: &mut Connection,
    site: &str,
    batch: &IntakeBatch,
    bodies: Vec<Body>,
    published: &mut Vec<Published>,
) -> Result<i64, ApiError> {
    let tx = c.transaction()?;
    let mut last = reports::last_applied(&tx, site, &batch.epoch)?;
    let fresh: Vec<(&IntakeEntry, Body)> = batch
        .entries
        .iter()
        .zip(bodies)
        .filter(|(e, _)| e.seq > last)
        .collect();
    let mut seen = Lookups::default();
    for (e, body) in &fresh {
        refuse_foreign(&tx, site, e, body, &mut seen)?;
    }
    let mut heard: HashMap<&str, &str> = HashMap::new();
    for (e, body) in fresh {
        if e.seq <= last {
            continue; // a sequence number repeated within the batch
        }
        match body {
            Body::Capabilities(Some(doc)) => {
                let json = serde_json::to_string(&doc).unwrap_or_default();
                let stored =
                    sites::set_capabilities(&tx, site, &e.device, Some(&json), &e.received_at)?;
                if stored.is_some() {
                    published.push((
                        "device.capabilities",
                        e.device.clone(),
                        serde_json::json!({}),
                    ));
                } else {
                    tracing::warn!(
                        site,
                        device = e.device,
                        "capabilities for a device the CO does not know; dropped"
                    );
                }
            }
            Body::Capabilities(None) => tracing::warn!(
                site,
                device = e.device,
                seq = e.seq,
                "unreadable capabilities in intake; dropped"
            ),
            Body::CapabilitiesDeleted => {
                sites::set_capabilities(&tx, site, &e.device, None, &e.received_at)?;
            }
            Body::Status(Ok(doc)) => {
                let id = doc.deployment_id.as_str();
                match seen.placement(&tx, id)? {
                    Some(p) if p.site == site && p.device == e.device => {
                        reports::write_status(
                            &tx,
                            site,
                            &e.device,
                            &doc,
                            &e.received_at,
                            e.digest.as_deref(),
                        )?;
                        heard.insert(&e.device, &e.received_at);
                        published.push(status_event_about(
                            &e.device,
                            &doc,
                            e.digest.as_deref(),
                            p.digest.as_deref(),
                        ));
                    }
                    _ => {
                        tracing::warn!(site, device = e.device, deployment = %doc.deployment_id, "status for a deployment the CO does not know; dropped");
                    }
                }
            }
            Body::Status(Err(err)) => {
                tracing::warn!(site, device = e.device, seq = e.seq, error = %err, "unreadable status in intake; dropped");
            }
            Body::Unknown => tracing::warn!(
                site,
                kind = e.kind,
                seq = e.seq,
                "unknown intake entry; dropped"
            ),
        }
        last = e.seq;
    }
    for (device, at) in heard {
        sites::heard_from(&tx, site, device, at)?;
    }
    reports::set_last_applied(&tx, site, &batch.epoch, last)?;
    tx.commit()?;
    Ok(last)
}

/// Refuse (403) an entry that speaks for a device of another site, a
/// device the CO does not know, or a deployment placed at another site or
/// device.
fn refuse_foreign(
    c: &Connection,
    site: &str,
    e: &IntakeEntry,
    body: &Body,
    seen: &mut Lookups,
) -> Result<(), ApiError> {
    let refused = |why: String| {
        ApiError::not_authorized(format!(
            "intake entry {}: {why}; the batch is refused (an LO reports for its own site only)",
            e.seq
        ))
    };
    let known = seen.site(c, &e.device)?.map(str::to_owned);
    match known.as_deref() {
        Some(s) if s == site => {}
        Some(_) => {
            return Err(refused(format!(
                "device `{}` is not a device of site `{site}`",
                e.device
            )));
        }
        // Removed from this site since its LO queued the entry: dropped
        // below (no device, no placement), not refused — refusing would
        // hold up the LO's outbox for good.
        None if identities::ever_held(c, site, &e.device)? => {}
        // A child the gateway of this site reports that the CO does not
        // know (not registered, or removed since): dropped below, as the
        // LO cannot know the CO's registry.
        None if e.device.contains('/') && seen.site(c, client_of(&e.device))? == Some(site) => {}
        None => return Err(refused(format!("the CO knows no device `{}`", e.device))),
    }
    if let Body::Status(Ok(doc)) = body {
        let id = doc.deployment_id.as_str();
        if let Some(p) = seen.placement(c, id)?
            && (p.site != site || p.device != e.device)
        {
            return Err(refused(format!(
                "deployment `{id}` is not placed on device `{}` of site `{site}`",
                e.device
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::co::db;

    const DEP: &str = "0b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";

    fn entry(seq: i64, state: &str) -> IntakeEntry {
        let body = serde_json::json!({"deploymentId": DEP, "adoptedManifestVersion": 2,
            "status": {"state": state}, "components": [{"name": "hello", "state": state}]});
        IntakeEntry {
            seq,
            kind: "status".into(),
            device: "edge-1".into(),
            body: body.to_string(),
            received_at: format!("2026-11-23T00:00:0{seq}Z"),
            digest: None,
        }
    }

    fn apply(
        c: &mut Connection,
        batch: &IntakeBatch,
        events: &mut Vec<Published>,
    ) -> Result<i64, ApiError> {
        let bodies = batch.entries.iter().map(Body::read).collect();
        apply_entries(c, "plant-1", batch, bodies, events)
    }

    #[test]
    fn intake_applies_each_entry_once_and_in_order_per_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = db::open(&dir.path().join("edged.db")).unwrap();
        sites::insert_site(&c, "plant-1", &Default::default(), "now").unwrap();
        c.execute(
            "INSERT INTO devices (id, site, labels, created_at) VALUES ('edge-1', 'plant-1', '{}', 'now')",
            [],
        )
        .unwrap();
        c.execute(
            &format!("INSERT INTO deployments (id, app_id, version, site, device, profile, commit_id, created_at)
             VALUES ('{DEP}', 'hello', '1', 'plant-1', 'edge-1', 'wasm', 'c1', 'now')"),
            [],
        )
        .unwrap();
        let state = |c: &Connection| {
            reports::states(c)
                .unwrap()
                .get(DEP)
                .map(|s| s.state.clone())
        };
        let batch = |entries| IntakeBatch {
            epoch: "e1".into(),
            entries,
        };
        let first = batch(vec![
            entry(1, "pending"),
            entry(2, "installing"),
            entry(3, "installed"),
        ]);
        let mut events = Vec::new();
        assert_eq!(apply(&mut c, &first, &mut events).unwrap(), 3);
        assert_eq!(state(&c).as_deref(), Some("installed"), "the last one wins");
        let states: Vec<_> = events.iter().map(|e| e.2["state"].clone()).collect();
        assert_eq!(
            states,
            ["pending", "installing", "installed"],
            "one event per report"
        );
        // The same batch again (its answer was lost) plus one more: only the new one counts.
        let mut again = first.entries.clone();
        again.push(entry(4, "failed"));
        events.clear();
        assert_eq!(apply(&mut c, &batch(again), &mut events).unwrap(), 4);
        assert_eq!(events.len(), 1, "a replayed report is no new event");
        assert_eq!(state(&c).as_deref(), Some("failed"));
        // A replay of old entries changes nothing.
        assert_eq!(apply(&mut c, &first, &mut events).unwrap(), 4);
        assert_eq!(state(&c).as_deref(), Some("failed"));
        // Another outbox (a re-installed LO) counts on its own.
        let other = IntakeBatch {
            epoch: "e2".into(),
            entries: vec![entry(1, "installed")],
        };
        assert_eq!(apply(&mut c, &other, &mut events).unwrap(), 1);
        assert_eq!(state(&c).as_deref(), Some("installed"));
    }

    #[test]
    fn entries_of_a_device_removed_since_are_dropped_those_of_a_stranger_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = db::open(&dir.path().join("edged.db")).unwrap();
        sites::insert_site(&c, "plant-1", &Default::default(), "now").unwrap();
        // edge-1 held an identity of plant-1 and was removed: no device row.
        c.execute(
            "INSERT INTO identities (fingerprint, spiffe_id, site, device, issued_at, not_after, revoked_at)
             VALUES ('f1', 'spiffe://x/margo/wfm/plant-1/client/edge-1', 'plant-1', 'edge-1', 'now', 'later', 'now')",
            [],
        )
        .unwrap();
        let batch = IntakeBatch {
            epoch: "e1".into(),
            entries: vec![entry(1, "installed"), entry(2, "removing")],
        };
        let mut events = Vec::new();
        assert_eq!(
            apply(&mut c, &batch, &mut events).unwrap(),
            2,
            "acknowledged"
        );
        assert!(events.is_empty(), "and dropped");
        assert!(reports::states(&c).unwrap().is_empty());
        let mut stranger = entry(3, "installed");
        stranger.device = "edge-7".into();
        let refused = IntakeBatch {
            epoch: "e1".into(),
            entries: vec![stranger],
        };
        let e = apply(&mut c, &refused, &mut events).unwrap_err();
        assert!(
            e.detail().contains("the CO knows no device `edge-7`"),
            "{}",
            e.detail()
        );
    }

    #[test]
    fn an_unknown_child_behind_a_device_of_the_site_is_dropped_one_behind_another_sites_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = db::open(&dir.path().join("edged.db")).unwrap();
        sites::insert_site(&c, "plant-1", &Default::default(), "now").unwrap();
        sites::insert_site(&c, "plant-2", &Default::default(), "now").unwrap();
        c.execute_batch(
            "INSERT INTO devices (id, site, labels, created_at) VALUES ('gw-1', 'plant-1', '{}', 'now');
             INSERT INTO devices (id, site, labels, created_at) VALUES ('gw-9', 'plant-2', '{}', 'now');",
        )
        .unwrap();
        let caps = |seq: i64, device: &str| IntakeEntry {
            seq,
            kind: "capabilities".into(),
            device: device.into(),
            body: serde_json::json!({"properties": {"id": device, "vendor": "v",
                "modelNumber": "m", "serialNumber": "s"}})
            .to_string(),
            received_at: "2026-11-23T00:00:00Z".into(),
            digest: None,
        };
        let mut events = Vec::new();
        let ours = IntakeBatch {
            epoch: "e1".into(),
            entries: vec![caps(1, "gw-1"), caps(2, "gw-1/cam-9")],
        };
        assert_eq!(apply(&mut c, &ours, &mut events).unwrap(), 2);
        assert_eq!(events.len(), 1, "the gateway's report only: {events:?}");
        assert!(sites::device(&c, "gw-1/cam-9").unwrap().is_none());
        let theirs = IntakeBatch {
            epoch: "e1".into(),
            entries: vec![caps(3, "gw-9/cam-1")],
        };
        let e = apply(&mut c, &theirs, &mut events).unwrap_err();
        assert!(
            e.detail().contains("the CO knows no device `gw-9/cam-1`"),
            "{}",
            e.detail()
        );
    }
}
