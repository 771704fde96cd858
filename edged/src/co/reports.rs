//! Observed state at the CO: device capabilities and deployment status, as
//! they arrive from LOs in batches (`POST /lo/v1/intake`) or straight from
//! edge nodes attached to the CO; and what the CO offers LOs and those nodes
//! on its south listener: the nudge (`GET /lo/v1/watch`, a long poll that
//! returns as soon as the site's desired state or revocations change) and the
//! Margo API over the site repositories ([`CoBackend`]).
//!
//! Intake is exactly-once and in order: every batch carries the LO's outbox
//! epoch and sequence numbers, the CO stores the last one it applied in the
//! same transaction as the reports, and skips anything at or below it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Extension, State};
use edge_api::types::{IntakeAck, IntakeBatch, WatchReply};
use edge_model::Digest;
use edge_model::MargoDocument as _;
use edge_model::capabilities::DeviceCapabilitiesManifest;
use edge_model::status::DeploymentStatusManifest;
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Deserialize;

use super::db;
use super::http::QueryParams;
use super::store::Store;
use crate::error::ApiError;
use crate::south::margo::Backend;
use crate::south::view::{self, DeviceView};
use crate::south::{Caller, Principal};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deployment_status (
    deployment TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    adopted_version INTEGER,
    report TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS intake (
    site TEXT NOT NULL,
    epoch TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (site, epoch)
);
";

/// Largest intake batch, bytes of JSON (an LO sends at most 2 MiB of
/// reports, or one report of at most 1 MiB, escaped).
pub(crate) const MAX_INTAKE: usize = 16 * 1024 * 1024;

/// Longest a watch waits before answering with the unchanged state.
const MAX_WAIT_SECS: u64 = 60;

/// The last reported state of a deployment.
pub(crate) struct StateRow {
    pub(crate) state: String,
    pub(crate) at: String,
    pub(crate) error: Option<String>,
}

/// Every deployment's last reported state, by deployment id.
pub(crate) fn states(c: &Connection) -> rusqlite::Result<HashMap<String, StateRow>> {
    let mut st = c.prepare("SELECT deployment, state, updated_at, error FROM deployment_status")?;
    st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            StateRow {
                state: r.get(1)?,
                at: r.get(2)?,
                error: r.get(3)?,
            },
        ))
    })?
    .collect()
}

/// Store a device's capabilities; `None` when the device is not registered
/// at `site`, else whether it had none before.
fn set_capabilities(
    c: &Connection,
    site: &str,
    device: &str,
    json: Option<&str>,
    at: &str,
) -> rusqlite::Result<Option<bool>> {
    let before: Option<Option<String>> = c
        .query_row(
            "SELECT capabilities FROM devices WHERE id = ?1 AND site = ?2",
            params![device, site],
            |r| r.get(0),
        )
        .optional()?;
    let Some(before) = before else {
        return Ok(None);
    };
    c.execute(
        "UPDATE devices SET capabilities = ?3, last_heard = ?4 WHERE id = ?1 AND site = ?2",
        params![device, site, json, at],
    )?;
    Ok(Some(before.is_none()))
}

/// Store a status report; whether it is the first for its deployment, or
/// `None` (nothing stored) when the deployment belongs to another site or
/// device, so no LO can write over another site's state.
fn set_status(
    c: &Connection,
    site: &str,
    device: &str,
    doc: &DeploymentStatusManifest,
    at: &str,
) -> rusqlite::Result<Option<bool>> {
    let id = doc.deployment_id.as_str();
    let desired: Option<(String, String)> = c
        .query_row(
            "SELECT site, device FROM deployments WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let reported: Option<(String, String)> = c
        .query_row(
            "SELECT site, device FROM deployment_status WHERE deployment = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((s, d)) = desired.as_ref().or(reported.as_ref())
        && (s != site || d != device)
    {
        return Ok(None);
    }
    let existed = reported.is_some();
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
    c.execute(
        "INSERT INTO deployment_status (deployment, site, device, state, error, adopted_version, report, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (deployment) DO UPDATE SET site = excluded.site, device = excluded.device, state = excluded.state,
           error = excluded.error, adopted_version = excluded.adopted_version, report = excluded.report, updated_at = excluded.updated_at",
        params![
            id,
            site,
            device,
            doc.status.state.to_string(),
            error,
            doc.adopted_manifest_version.and_then(|v| i64::try_from(v).ok()),
            serde_json::to_string(doc).unwrap_or_default(),
            at
        ],
    )?;
    c.execute(
        "UPDATE devices SET last_heard = ?3 WHERE id = ?1 AND site = ?2",
        params![device, site, at],
    )?;
    Ok(Some(!existed))
}

/// The `status` event of a stored report.
fn status_event(device: &str, doc: &DeploymentStatusManifest) -> Published {
    let error = doc.components.iter().find_map(|c| {
        c.error
            .as_ref()
            .map(|e| format!("{}: {}", c.name, e.message.as_deref().unwrap_or_default()))
    });
    (
        "status",
        doc.deployment_id.to_string(),
        serde_json::json!({"device": device, "state": doc.status.state.to_string(), "error": error}),
    )
}

/// Apply one batch from the LO of `site` in one transaction; returns the
/// last sequence number now stored.
fn apply_batch(store: &Store, site: &str, batch: &IntakeBatch) -> Result<i64, ApiError> {
    let mut published = Vec::new();
    let last = apply_entries(&mut store.db(), site, batch, &mut published)?;
    for (kind, subject, data) in published {
        store.events().publish(kind, &subject, Some(site), data);
    }
    Ok(last)
}

/// An event to publish once the batch is stored: kind, subject, details.
type Published = (&'static str, String, serde_json::Value);

fn apply_entries(
    c: &mut Connection,
    site: &str,
    batch: &IntakeBatch,
    published: &mut Vec<Published>,
) -> Result<i64, ApiError> {
    let tx = c.transaction()?;
    let mut last: i64 = tx
        .query_row(
            "SELECT last_seq FROM intake WHERE site = ?1 AND epoch = ?2",
            params![site, batch.epoch],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    for e in &batch.entries {
        if e.seq <= last {
            continue; // already stored: a batch re-sent after a lost answer
        }
        match e.kind.as_str() {
            "capabilities" => match DeviceCapabilitiesManifest::from_slice(e.body.as_bytes()) {
                Ok(doc) if doc.document.properties.id.as_str() == e.device => {
                    let json = serde_json::to_string(&doc.document).unwrap_or_default();
                    let stored =
                        set_capabilities(&tx, site, &e.device, Some(&json), &e.received_at)?;
                    if stored.is_some() {
                        published.push((
                            "device.capabilities",
                            e.device.clone(),
                            serde_json::json!({}),
                        ));
                    }
                    if stored.is_none() {
                        tracing::warn!(
                            site,
                            device = e.device,
                            "capabilities for a device the CO does not know; dropped"
                        );
                    }
                }
                _ => tracing::warn!(
                    site,
                    device = e.device,
                    seq = e.seq,
                    "unreadable capabilities in intake; dropped"
                ),
            },
            "capabilities-deleted" => {
                set_capabilities(&tx, site, &e.device, None, &e.received_at)?;
            }
            "status" => match DeploymentStatusManifest::from_slice(e.body.as_bytes()) {
                Ok(doc) => {
                    let stored = set_status(&tx, site, &e.device, &doc.document, &e.received_at)?;
                    if stored.is_some() {
                        published.push(status_event(&e.device, &doc.document));
                    }
                    if stored.is_none() {
                        tracing::warn!(site, device = e.device, deployment = %doc.document.deployment_id, "status for a deployment of another site or device; dropped");
                    }
                }
                Err(err) => {
                    tracing::warn!(site, device = e.device, seq = e.seq, error = %err, "unreadable status in intake; dropped");
                }
            },
            other => tracing::warn!(
                site,
                kind = other,
                seq = e.seq,
                "unknown intake entry; dropped"
            ),
        }
        last = e.seq;
    }
    tx.execute(
        "INSERT INTO intake (site, epoch, last_seq) VALUES (?1, ?2, ?3)
         ON CONFLICT (site, epoch) DO UPDATE SET last_seq = excluded.last_seq",
        params![site, batch.epoch, last],
    )?;
    tx.commit()?;
    Ok(last)
}

/// The identity the CO issued for the caller's certificate, when it is
/// still valid and not revoked; 403 otherwise.
fn known_identity(store: &Store, caller: &Caller) -> Result<db::IdentityRow, ApiError> {
    let identity = db::identity(&store.db(), &caller.fingerprint)?.ok_or_else(|| {
        ApiError::not_authorized("this certificate is not one the CO issued to a known identity")
    })?;
    if caller.expired() || identity.not_after < crate::clock::now() {
        return Err(ApiError::not_authorized(format!(
            "the identity `{}` expired at {}; enrol again",
            identity.spiffe_id, identity.not_after
        )));
    }
    if let Some(at) = &identity.revoked_at {
        return Err(ApiError::not_authorized(format!(
            "the identity `{}` was revoked at {at}",
            identity.spiffe_id
        )));
    }
    Ok(identity)
}

/// The site whose unrevoked, unexpired LO the caller is; 403 otherwise.
pub(crate) fn lo_site(store: &Store, caller: &Caller) -> Result<String, ApiError> {
    let identity = known_identity(store, caller)?;
    if identity.device.is_some() {
        return Err(ApiError::not_authorized(format!(
            "`{}` is a device, not a Local Orchestrator",
            identity.spiffe_id
        )));
    }
    Ok(identity.site)
}

/// Query of `GET /lo/v1/watch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchQuery {
    /// The head the LO has.
    have: Option<String>,
    /// How many revoked fingerprints the LO knows.
    revoked: Option<usize>,
    /// Seconds to wait for a change (at most 60).
    wait: Option<u64>,
}

fn watch_state(store: &Store, site: &str) -> Result<WatchReply, ApiError> {
    let head = store.site_head(site)?;
    let revoked = {
        let conn = store.db();
        let mut st = conn.prepare(
            "SELECT fingerprint FROM identities WHERE site = ?1 AND device IS NOT NULL AND revoked_at IS NOT NULL ORDER BY fingerprint",
        )?;
        st.query_map([site], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?
    };
    Ok(WatchReply { head, revoked })
}

/// The nudge: answer at once when the LO's view is stale, else when it
/// becomes stale, or after `wait` seconds with the unchanged state.
pub(crate) async fn watch(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    QueryParams(q): QueryParams<WatchQuery>,
) -> Result<axum::Json<WatchReply>, ApiError> {
    let s = store.clone();
    let site = tokio::task::spawn_blocking(move || lo_site(&s, &caller))
        .await
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("{e}")))??;
    // Subscribed before the state is read, so no change is missed.
    let mut changes = store.subscribe(&site);
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    loop {
        changes.borrow_and_update();
        let (s, site2) = (store.clone(), site.clone());
        let state = tokio::task::spawn_blocking(move || watch_state(&s, &site2))
            .await
            .map_err(|e| ApiError::internal(&anyhow::anyhow!("{e}")))??;
        let stale = state.head != q.have || Some(state.revoked.len()) != q.revoked;
        if stale || tokio::time::Instant::now() >= deadline {
            return Ok(axum::Json(state));
        }
        if tokio::time::timeout_at(deadline, changes.changed())
            .await
            .is_err()
        {
            return Ok(axum::Json(state));
        }
    }
}

/// An intake batch from a request body (bounded by the route's limit).
fn read_batch(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<IntakeBatch, ApiError> {
    let body = body.map_err(|r| crate::error::body_rejection(&r, MAX_INTAKE))?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the intake batch is not valid: {e}")))
}

/// Status and capabilities forwarded by an LO.
pub(crate) async fn intake(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::Json<IntakeAck>, ApiError> {
    let batch = read_batch(body)?;
    tokio::task::spawn_blocking(move || {
        let site = lo_site(&store, &caller)?;
        let started = std::time::Instant::now();
        let acked = apply_batch(&store, &site, &batch)?;
        tracing::debug!(site, entries = batch.entries.len(), acked, took = ?started.elapsed(), "intake");
        Ok(axum::Json(IntakeAck { acked }))
    })
    .await
    .map_err(|e| ApiError::internal(&anyhow::anyhow!("{e}")))?
}

/// Status and capabilities of a site carried on a stick (`edgectl lo
/// export-status`, then `edgectl co import-status`): the same batches an LO
/// forwards, applied once each however often they arrive.
#[utoipa::path(post, path = "/api/sites/{site}/intake", params(("site" = String, Path, description = "Site name")), request_body = IntakeBatch,
    responses((status = 200, body = IntakeAck, description = "Every entry up to `acked` is stored"), (status = 404, description = "No such site")))]
pub(crate) async fn intake_from_stick(
    State(store): State<Arc<Store>>,
    axum::extract::Path(site): axum::extract::Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::Json<IntakeAck>, ApiError> {
    let batch = read_batch(body)?;
    tokio::task::spawn_blocking(move || {
        if db::site(&store.db(), &site)?.is_none() {
            return Err(ApiError::not_found(format!("no site `{site}`")));
        }
        let acked = apply_batch(&store, &site, &batch)?;
        tracing::info!(
            site,
            entries = batch.entries.len(),
            acked,
            "reports taken in from a stick"
        );
        Ok(axum::Json(IntakeAck { acked }))
    })
    .await
    .map_err(|e| ApiError::internal(&anyhow::anyhow!("{e}")))?
}

/// The Margo API for edge nodes attached to the CO directly: views built
/// from the site repositories, reports written straight to the database.
pub(crate) struct CoBackend {
    pub(crate) store: Arc<Store>,
}

impl CoBackend {
    fn site_of(&self, device: &str) -> Result<String, ApiError> {
        db::device(&self.store.db(), device)?
            .map(|d| d.site)
            .ok_or_else(|| {
                ApiError::not_authorized(format!("device `{device}` is no longer registered"))
            })
    }

    /// The site's views, rebuilt when the site changed since they were
    /// built. Building for one site happens one at a time (its cell's lock),
    /// so no version is assigned from views that are being replaced; a site
    /// whose files cannot be served keeps its previous views.
    fn device_view(&self, site: &str, device: &str) -> Result<Arc<DeviceView>, ApiError> {
        let cell = self.store.views_of(site);
        let mut cached = cell
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let generation = self.store.generation(site);
        if cached.generation != generation {
            let built = self.store.site_head(site).and_then(|head| {
                let previous = cached.views.clone();
                let repo = edge_workspace::git::Mirror::at(&self.store.site_repo(site));
                let staged = cached.routes.stage(&repo, head, &previous)?;
                Ok(staged.commit(&mut self.store.db(), site, &previous)?)
            });
            match built {
                Ok(views) => {
                    cached.generation = generation;
                    cached.views = Arc::new(views);
                }
                Err(e) if cached.generation != 0 => {
                    tracing::error!(
                        site,
                        error = format!("{e:#}"),
                        "cannot serve the site's new desired state; serving the previous one"
                    );
                }
                Err(e) => return Err(ApiError::internal(&e)),
            }
        }
        if let Some(v) = cached.views.devices.get(device) {
            return Ok(v.clone());
        }
        Ok(Arc::new(view::empty_view(&self.store.db(), site, device)?))
    }
}

impl Backend for CoBackend {
    fn device(&self, caller: &Caller) -> Result<String, ApiError> {
        let identity = known_identity(&self.store, caller)?;
        let device = identity.device.clone().ok_or_else(|| {
            ApiError::not_authorized(format!("`{}` is not a device", identity.spiffe_id))
        })?;
        // A client of the CO itself: `…/margo/wfm/co/client/<device>` of our trust domain.
        let p = caller.spiffe_id.as_deref().and_then(Principal::parse);
        match p {
            Some(p)
                if p.trust_domain == self.store.trust_domain()
                    && p.wfm == "co"
                    && p.client.as_deref() == Some(device.as_str()) => {}
            Some(p) if p.client.is_some() && p.wfm != "co" => {
                return Err(ApiError::not_authorized(format!(
                    "device `{device}` is a client of the LO of site `{}`; to attach it to the CO, enrol it with `--direct`",
                    p.wfm
                )));
            }
            _ => {
                return Err(ApiError::not_authorized(
                    "the certificate's SPIFFE ID does not name this device as a client of the CO",
                ));
            }
        }
        Ok(device)
    }

    fn view(&self, device: &str) -> Result<Arc<DeviceView>, ApiError> {
        let site = self.site_of(device)?;
        self.device_view(&site, device)
    }

    fn owner(&self, device: &str, deployment: &str) -> Result<Option<String>, ApiError> {
        let site = self.site_of(device)?;
        Ok(view::owner(&self.store.db(), &site, deployment)?)
    }

    fn capabilities(
        &self,
        device: &str,
        doc: &DeviceCapabilitiesManifest,
    ) -> Result<bool, ApiError> {
        let site = self.site_of(device)?;
        let json = serde_json::to_string(doc).unwrap_or_default();
        let first = set_capabilities(
            &self.store.db(),
            &site,
            device,
            Some(&json),
            &crate::clock::now(),
        )?
        .ok_or_else(|| {
            ApiError::margo_not_found("device-not-found", format!("no device `{device}`"))
        })?;
        self.store.events().publish(
            "device.capabilities",
            device,
            Some(&site),
            serde_json::json!({}),
        );
        Ok(first)
    }

    fn delete_capabilities(&self, device: &str) -> Result<bool, ApiError> {
        let site = self.site_of(device)?;
        Ok(
            set_capabilities(&self.store.db(), &site, device, None, &crate::clock::now())?
                .is_some_and(|first| !first),
        )
    }

    fn status(&self, device: &str, doc: &DeploymentStatusManifest) -> Result<bool, ApiError> {
        let site = self.site_of(device)?;
        let first = set_status(&self.store.db(), &site, device, doc, &crate::clock::now())?
            .ok_or_else(|| {
                ApiError::not_authorized(format!(
                    "deployment `{}` is not one of yours",
                    doc.deployment_id
                ))
            })?;
        let (kind, subject, data) = status_event(device, doc);
        self.store
            .events()
            .publish(kind, &subject, Some(&site), data);
        Ok(first)
    }

    fn changes(&self, device: &str) -> Option<tokio::sync::watch::Receiver<u64>> {
        let site = self.site_of(device).ok()?;
        Some(self.store.subscribe(&site))
    }

    fn artifact(
        &self,
        caller: &Caller,
        _name: &str,
        digest: &Digest,
    ) -> Result<Option<PathBuf>, ApiError> {
        // Any identity the CO issued and did not revoke: an LO fills its
        // site's cache, a directly attached node fetches for itself.
        known_identity(&self.store, caller)?;
        Ok(self.store.cas().get(digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_api::types::IntakeEntry;

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
        }
    }

    #[test]
    fn intake_applies_each_entry_once_and_in_order_per_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = db::open(&dir.path().join("edged.db")).unwrap();
        db::insert_site(&c, "plant-1", &Default::default(), "now").unwrap();
        c.execute(
            "INSERT INTO devices (id, site, labels, created_at) VALUES ('edge-1', 'plant-1', '{}', 'now')",
            [],
        )
        .unwrap();
        let state = |c: &Connection| states(c).unwrap().get(DEP).map(|s| s.state.clone());
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
        assert_eq!(
            apply_entries(&mut c, "plant-1", &first, &mut events).unwrap(),
            3
        );
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
        assert_eq!(
            apply_entries(&mut c, "plant-1", &batch(again), &mut events).unwrap(),
            4
        );
        assert_eq!(events.len(), 1, "a replayed report is no new event");
        assert_eq!(state(&c).as_deref(), Some("failed"));
        // A replay of old entries changes nothing.
        assert_eq!(
            apply_entries(&mut c, "plant-1", &first, &mut events).unwrap(),
            4
        );
        assert_eq!(state(&c).as_deref(), Some("failed"));
        // Another outbox (a re-installed LO) counts on its own.
        let other = IntakeBatch {
            epoch: "e2".into(),
            entries: vec![entry(1, "installed")],
        };
        assert_eq!(
            apply_entries(&mut c, "plant-1", &other, &mut events).unwrap(),
            1
        );
        assert_eq!(state(&c).as_deref(), Some("installed"));
    }
}
