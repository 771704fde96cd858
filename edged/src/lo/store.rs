//! The LO's state: its identity, the mirror of its site repository
//! (`DATA/site.git`), its database (`DATA/lo.db`: manifest versions, what
//! was served to whom, the outbox) and the per-device views it serves; and
//! [`Lo`] as the Margo API backend. A device is accepted only with a
//! certificate the CO issued for this site and did not revoke: both lists
//! are in `DATA/trust.json` (`edge_workspace::stick::trust`, from the CO's
//! watch replies or a signed stick), read again whenever the file changes,
//! so a stick taken in by `edgectl lo import` counts at once. The
//! registry references site sticks carried artifacts for are in
//! `DATA/pins.json` (written by `edge_workspace::stick::import`, read on
//! every question, so a stick taken in while the LO runs counts at once).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use edge_api::mtls::Identity;
use edge_api::south::CallError;
use edge_model::Digest;
use edge_model::capabilities::DeviceCapabilitiesManifest;
use edge_model::status::DeploymentStatusManifest;
use edge_workspace::git::Mirror;
use edge_workspace::stick::{StickError, TrustLists, trust};
use rusqlite::{Connection, params};

use super::group;
use super::outbox::{self, Doorbell, Outbox};
use crate::cas::{FetchBlob as _, FetchError};
use crate::error::ApiError;
use crate::south::backend::{Backend, Held};
use crate::south::view::{self, DeviceView, RebuildError, ViewCache};
use crate::south::{Caller, Principal};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS revoked (fingerprint TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS reported (kind TEXT NOT NULL, subject TEXT NOT NULL, PRIMARY KEY (kind, subject));
";

/// What tells that `trust.json` was replaced: its inode, length and time.
type Stamp = (u64, u64, std::time::SystemTime);

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.len(), m.modified().ok()?))
}

/// How the LO reaches upstream registries for what it pulls through.
#[derive(Debug, Clone)]
pub(crate) struct PullThrough {
    /// Registries reached over plain HTTP.
    pub(crate) insecure: Vec<String>,
    /// Most bytes kept of what was pulled through.
    pub(crate) max_bytes: u64,
}

/// The running LO.
pub(crate) struct Lo {
    pub(crate) identity: Identity,
    /// The site it serves (its SPIFFE ID's wfm segment).
    pub(crate) site: String,
    pub(crate) mirror: Mirror,
    /// Identifies this outbox at the CO (made once, kept in `lo.db`).
    pub(crate) epoch: String,
    pub(crate) outbox: Outbox,
    pub(crate) doorbell: Doorbell,
    db: Mutex<Connection>,
    /// Reports waiting to be written together.
    group: group::Group,
    /// The views served, rebuilt when the mirror moves.
    views: ViewCache,
    /// `trust.json` as last read, with the file's stamp then.
    trust: RwLock<(Option<Stamp>, Arc<TrustLists>)>,
    /// Artifacts fetched for this site's nodes (`artifacts/`).
    cas: crate::cas::Cas,
    /// The data directory (`pins.json` is read from it).
    data: PathBuf,
    /// What is pulled through from upstream registries for the site.
    upstream: super::upstream::Upstream,
    /// Bumped whenever the views are replaced (long polls wait on it).
    changes: tokio::sync::watch::Sender<u64>,
}

impl Lo {
    /// Bytes of pulled-through artifacts kept now (`/metrics`).
    pub(crate) fn pull_cache_bytes(&self) -> u64 {
        self.upstream.kept_bytes()
    }

    /// Open the data directory (creating it) for `identity`, and build the
    /// views from what the mirror already holds, so a restart with the CO
    /// out of reach serves at once.
    /// Served deployments name package-local artifacts in the registry at
    /// `registry_host` (this LO, as its nodes dial it) when one is given.
    pub(crate) fn open(
        data: &Path,
        identity: Identity,
        outbox_limit: u64,
        pull: PullThrough,
        registry_host: Option<String>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            identity.file.role == "lo",
            "`{}` holds the credentials of an edge node (role `{}`), not of a local orchestrator; enrol one with `edgectl co enroll --site SITE --lo`",
            identity.dir.display(),
            identity.file.role
        );
        let principal = Principal::parse(&identity.file.spiffe_id)
            .filter(|p| p.client.is_none())
            .with_context(|| {
                format!(
                    "`{}` is not the SPIFFE ID of a local orchestrator",
                    identity.file.spiffe_id
                )
            })?;
        std::fs::create_dir_all(data)
            .with_context(|| format!("cannot create the data directory `{}`", data.display()))?;
        let mirror = Mirror::open_or_init(&data.join("site.git"))?;
        let path = data.join(edge_outbox::DB);
        let conn = Connection::open(&path)
            .with_context(|| format!("cannot open the database `{}`", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a report answered 2xx, or a version served, survives power loss too.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(view::versions::SCHEMA)?;
        view::versions::migrate(&conn)?;
        conn.execute_batch(outbox::SCHEMA)?;
        edge_outbox::migrate(&conn)?;
        // The outbox's epoch (made once) and its site, named for
        // `edgectl lo export-status`, which reads this database alone.
        let epoch = edge_outbox::Outbox::identify(
            &conn,
            &identity.file.site,
            &uuid::Uuid::new_v4().to_string(),
        )?;
        // Revocations an earlier version kept in `lo.db` move to `trust.json`.
        let legacy = {
            let mut st = conn.prepare("SELECT fingerprint FROM revoked")?;
            st.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?
        };
        if !legacy.is_empty() {
            trust::apply(data, &legacy, None)?;
            conn.execute("DELETE FROM revoked", [])?;
        }
        let lists = trust::read_trust(data)?;
        let outbox = Outbox::load(&conn, outbox_limit)?;
        let cas = crate::cas::Cas::in_data(data)?;
        let views = ViewCache::naming_registry(principal.wfm.as_str(), registry_host);
        let registries = edge_workspace::oci::Registries {
            insecure: pull.insecure,
            auth: super::upstream::read_auth(data)?,
        };
        let upstream =
            super::upstream::Upstream::open(data, registries, pull.max_bytes, cas.clone());
        let lo = Self {
            upstream,
            cas,
            data: data.to_owned(),
            changes: tokio::sync::watch::Sender::new(0),
            identity,
            site: principal.wfm,
            mirror,
            epoch,
            outbox,
            doorbell: Doorbell::default(),
            db: Mutex::new(conn),
            group: group::Group::default(),
            views,
            trust: RwLock::new((stamp(&data.join(trust::TRUST)), Arc::new(lists))),
        };
        lo.rebuild()?;
        Ok(lo)
    }

    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The commit the served views come from.
    pub(crate) fn served_head(&self) -> Option<String> {
        self.views.current().head.clone()
    }

    /// Rebuild the views when the mirror's head differs from the served one;
    /// `true` when it did.
    pub(crate) fn rebuild(&self) -> anyhow::Result<bool> {
        let mut building = self.views.lock();
        let head = self.mirror.head()?;
        let previous = self.views.current();
        if head == previous.head && head.is_some() {
            return Ok(false);
        }
        let _timed = crate::prom::Timer::start(&super::metrics::REBUILD);
        let span = crate::trace::synced(&self.mirror, &self.site, head.as_deref());
        let _in = span.enter();
        // Routing and bundling happen outside the database lock.
        let views = building
            .rebuild(&self.mirror, head.clone(), 1, || self.db())
            .map_err(|e| match e {
                RebuildError::Stage(e) => e.context(format!(
                    "still serving {}",
                    previous.head.as_deref().unwrap_or("nothing")
                )),
                other => other.into(),
            })?;
        let devices = views.devices.len();
        crate::trace::note_served(&span, &previous.devices, &views.devices);
        self.changes.send_modify(|n| *n += 1);
        tracing::info!(
            site = self.site,
            head = head.as_deref().unwrap_or("none"),
            devices,
            "serving desired state"
        );
        Ok(true)
    }

    /// The revoked and issued device certificates, read again when
    /// `trust.json` changed (a stick taken in by another process).
    pub(crate) fn trust(&self) -> Arc<TrustLists> {
        let path = self.data.join(trust::TRUST);
        let now = stamp(&path);
        {
            let held = self
                .trust
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if held.0 == now {
                return held.1.clone();
            }
        }
        match trust::read_trust(&self.data) {
            Ok(lists) => {
                let lists = Arc::new(lists);
                *self
                    .trust
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = (now, lists.clone());
                lists
            }
            Err(e) => {
                // Half a list is never used: keep the last one read.
                tracing::error!(error = %e, "cannot read the trust lists; keeping the last ones");
                self.trust
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .1
                    .clone()
            }
        }
    }

    /// Add the CO's revocations and take its issued list.
    pub(crate) fn set_trust(
        &self,
        revoked: &[String],
        issued: &[String],
    ) -> Result<(), StickError> {
        trust::apply(&self.data, revoked, Some(issued))?;
        self.trust();
        Ok(())
    }

    /// Record that `kind`/`subject` was reported; `true` the first time.
    fn first_report(&self, c: &Connection, kind: &str, subject: &str) -> rusqlite::Result<bool> {
        Ok(c.execute(
            "INSERT OR IGNORE INTO reported (kind, subject) VALUES (?1, ?2)",
            params![kind, subject],
        )? == 1)
    }

    /// Queue a report in the outbox, written and synced with the others
    /// arriving meanwhile (one transaction for the batch); whether it is
    /// the first of its kind and subject.
    fn queue(
        &self,
        kind: &str,
        subject: &str,
        device: &str,
        body: &str,
        digest: Option<&str>,
    ) -> Result<bool, ApiError> {
        let report = group::Report {
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            device: device.to_owned(),
            body: body.to_owned(),
            digest: digest.map(str::to_owned),
        };
        let outcome = self.group.submit(report, |batch| self.write_batch(batch));
        if outcome.is_ok() {
            self.doorbell.ring();
        }
        outcome
    }

    /// Write `batch` in one transaction: each report's outcome (one the
    /// outbox cannot take fails alone); all fail if the transaction does.
    fn write_batch(&self, batch: &[group::Report]) -> Vec<group::Outcome> {
        let mut c = self.db();
        let written = (|| -> rusqlite::Result<Vec<group::Outcome>> {
            let tx = c.transaction()?;
            let mut out = Vec::with_capacity(batch.len());
            for r in batch {
                let one = self
                    .outbox
                    .push(
                        &tx,
                        &r.kind,
                        &r.subject,
                        &r.device,
                        &r.body,
                        r.digest.as_deref(),
                    )
                    .and_then(|()| Ok(self.first_report(&tx, &r.kind, &r.subject)?));
                out.push(one);
            }
            tx.commit()?;
            Ok(out)
        })();
        drop(c);
        written.unwrap_or_else(|e| {
            tracing::error!(error = %e, reports = batch.len(), "cannot write reports to the outbox");
            // The cause kept, so a full disk is answered as one.
            let e = anyhow::Error::new(e).context("cannot store the report");
            batch.iter().map(|_| Err(ApiError::internal(&e))).collect()
        })
    }
}

impl Backend for Lo {
    fn device(&self, caller: &Caller) -> Result<String, ApiError> {
        let p = caller
            .spiffe_id
            .as_deref()
            .and_then(Principal::parse)
            .ok_or_else(|| {
                ApiError::not_authorized("the certificate carries no Margo client SPIFFE ID")
            })?;
        let Some(device) = p.client else {
            return Err(ApiError::not_authorized("a fleet manager is not a device"));
        };
        if p.trust_domain != self.identity.trust_domain() || p.wfm != self.site {
            return Err(ApiError::not_authorized(format!(
                "`{}` is not a client of this local orchestrator (site `{}`)",
                caller.spiffe_id.as_deref().unwrap_or_default(),
                self.site
            )));
        }
        if caller.expired() {
            return Err(ApiError::not_authorized(
                "the certificate has expired; enrol the device again",
            ));
        }
        let trust = self.trust();
        if trust.revoked.contains(&caller.fingerprint) {
            return Err(ApiError::not_authorized(format!(
                "the identity of device `{device}` was revoked"
            )));
        }
        match &trust.issued {
            None => Err(ApiError::not_authorized(format!(
                "this local orchestrator has not yet received the identities the CO issued for site `{}` (they come from the CO, or on a site stick)",
                self.site
            ))),
            Some(issued) if !issued.contains(&caller.fingerprint) => {
                Err(ApiError::not_authorized(format!(
                    "the certificate of device `{device}` ({}) is not one the CO issued for site `{}`",
                    caller.fingerprint, self.site
                )))
            }
            Some(_) => Ok(device),
        }
    }

    fn view(&self, device: &str) -> Result<Arc<DeviceView>, ApiError> {
        Ok(self.views.view(device, || self.db())?)
    }

    fn owner(&self, _device: &str, deployment: &str) -> Result<Option<String>, ApiError> {
        Ok(view::owner(&self.db(), &self.site, deployment)?)
    }

    fn capabilities(
        &self,
        device: &str,
        doc: &DeviceCapabilitiesManifest,
    ) -> Result<bool, ApiError> {
        let body = serde_json::to_string(doc).unwrap_or_default();
        self.queue("capabilities", device, device, &body, None)
    }

    fn reported(&self, device: &str) -> Result<bool, ApiError> {
        Ok(self
            .db()
            .prepare_cached("SELECT 1 FROM reported WHERE kind = 'capabilities' AND subject = ?1")?
            .exists([device])?)
    }

    fn delete_capabilities(&self, device: &str) -> Result<bool, ApiError> {
        // One transaction: the deletion is queued exactly when it is recorded.
        let mut c = self.db();
        let tx = c.transaction()?;
        let had = tx.execute(
            "DELETE FROM reported WHERE kind = 'capabilities' AND subject = ?1",
            [device],
        )? == 1;
        if had {
            self.outbox
                .push(&tx, "capabilities-deleted", device, device, "", None)?;
        }
        tx.commit()?;
        drop(c);
        if had {
            self.doorbell.ring();
        }
        Ok(had)
    }

    fn status(&self, device: &str, doc: &DeploymentStatusManifest) -> Result<bool, ApiError> {
        let body = serde_json::to_string(doc).unwrap_or_default();
        let id = doc.deployment_id.as_str();
        let digest = view::versions::reported_digest(
            &self.db(),
            &self.site,
            id,
            doc.adopted_manifest_version,
        )?;
        self.queue("status", id, device, &body, digest.as_deref())
    }

    fn changes(&self, _device: &str) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.changes.subscribe())
    }

    fn artifact(
        &self,
        caller: &Caller,
        name: &str,
        digest: &Digest,
    ) -> Result<Option<PathBuf>, ApiError> {
        self.device(caller)?;
        if let Some(p) = self.cas.get(digest) {
            return Ok(Some(p));
        }
        // Not cached yet: fetch it from the CO once, for every node of the site.
        let client = self
            .identity
            .blocking_client(&self.identity.wfm_id("co"), Duration::from_secs(300))
            .map_err(|e| ApiError::internal(&e.into()))?;
        let co = edge_api::south::South::new(&self.identity.file.server, client);
        match self
            .cas
            .fetch_blob(&co, name, digest, crate::cas::MAX_ARTIFACT)
        {
            Ok(p) => {
                tracing::info!(%digest, "artifact cached from the CO");
                Ok(Some(p))
            }
            Err(FetchError::Call(CallError::NotFound { .. })) => Ok(None),
            Err(e) if e.is_upstream() => Err(ApiError::unavailable(
                format!("the artifact is not cached here and the CO cannot be reached: {e}"),
                30,
            )),
            Err(e) => Err(ApiError::internal(&e.into())),
        }
    }

    fn pinned(&self, reference: &str) -> Result<Option<Held>, ApiError> {
        let pins = edge_workspace::stick::read_pins(&self.data)
            .map_err(|e| ApiError::internal(&e.into()))?;
        let Some(pin) = pins.pins.get(reference) else {
            return Ok(self.upstream.held(reference));
        };
        // Only what was verified into the store on the way in.
        Ok(Digest::new(&pin.digest)
            .ok()
            .filter(|d| self.cas.get(d).is_some())
            .map(|digest| Held {
                digest,
                size: pin.size,
                media_type: pin.media_type.clone(),
            }))
    }

    fn pull_through(&self, reference: &str, image: bool) -> Result<Option<Held>, ApiError> {
        self.upstream.pull(reference, image).map(Some)
    }
}
