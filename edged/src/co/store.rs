//! The CO's state, the bottom layer every operation shares: the data
//! directory layout, the Git workspace, the database connection, the admin
//! token, the CA, the artifact store, the event ring, the request metrics
//! and the caches (the app list, each site's change generation and served
//! views). Opened once at start; the repair that follows a crash is an
//! operation (`ops::recovery`), not the store's.
//!
//! Writes to the workspace are serialized by one lock, so concurrent requests
//! cannot interleave half-written changes.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::Context as _;
use edge_workspace::git::{Author, Repo};
use edge_workspace::oci::Registries;
use rusqlite::Connection;
use rustls::pki_types::pem::PemObject as _;

use super::ca::Ca;
use super::db;
use super::events::Events;
use super::metrics::Metrics;
use crate::settings::Settings;
use crate::south::view::ViewCache;

/// The CO's state, shared by all requests.
pub(crate) struct Store {
    workspace: PathBuf,
    sites: PathBuf,
    staging: PathBuf,
    db: Mutex<Connection>,
    write: Mutex<()>,
    /// SHA-256 (`sha256:…`) of the bootstrap token in `admin.token`; the
    /// token itself is not kept in memory.
    pub(crate) token_hash: String,
    pub(crate) started: Instant,
    pub(crate) registries: Registries,
    /// Which hosts app sources may name (`--source-allow`, `--source-deny`).
    pub(crate) sources: edge_workspace::git::SourcePolicy,
    pub(crate) metrics: Metrics,
    events: Events,
    /// The CA, replaced whole by a rotation step (`rotate.rs`).
    ca: std::sync::RwLock<Arc<Ca>>,
    /// The Trust Bundle API's documents of the CA (`crate::http::trust`).
    published: std::sync::RwLock<Arc<crate::http::trust::Published>>,
    /// The anchors the south listener checks client certificates against.
    south_roots: edge_api::mtls::TrustRoots,
    /// `spiffe_refresh_hint` of the bundle, seconds (`--trust-refresh`).
    pub(crate) trust_refresh: u64,
    trust_domain: String,
    south_url: Mutex<String>,
    /// The serialized app list and the store generation it was built at.
    apps_list: Mutex<(u64, Option<Arc<[u8]>>)>,
    /// Per site, bumped whenever its desired state or revocations change;
    /// its LO long-polls on it (the nudge), and cached views check it.
    changes: Mutex<HashMap<String, tokio::sync::watch::Sender<u64>>>,
    /// Per site: views served to directly attached edge nodes, stamped
    /// with the change generation they were built at (see `ops::direct`).
    views: Mutex<HashMap<String, Arc<ViewCache>>>,
    /// Package-local artifacts of what was deployed (`artifacts/`).
    cas: crate::cas::Cas,
    /// Remote operations waiting for a site's LO (`ops::remote`).
    pub(crate) remote: Arc<crate::south::opboard::Board>,
}

/// Most remote operations waiting for one site's LO.
const REMOTE_PER_SITE: usize = 64;
/// Most remote operations waiting in all.
const REMOTE_TOTAL: usize = 1024;

/// The author of commits the CO makes on behalf of the admin token.
pub(crate) fn author() -> Author {
    Author {
        name: "edged co".into(),
        email: "edged@localhost".into(),
    }
}

impl Store {
    /// Open the data directory, creating it on first start. The caller
    /// repairs it next (`ops::recovery::reconcile`).
    pub(crate) fn open(settings: &Settings) -> anyhow::Result<Self> {
        let data = &settings.data;
        crate::perms::private_dir(data, crate::perms::DIR).with_context(|| {
            format!(
                "cannot make the data directory `{}` private",
                data.display()
            )
        })?;
        let workspace = data.join("workspace");
        Repo::init_or_open(&workspace)
            .with_context(|| format!("cannot open the workspace `{}`", workspace.display()))?;
        let staging = data.join("staging");
        if staging.exists() {
            fs::remove_dir_all(&staging)
                .with_context(|| format!("cannot clean `{}`", staging.display()))?;
        }
        fs::create_dir_all(&staging)?;
        let token_hash = edge_model::digest::sha256(token(&data.join("admin.token"))?.as_bytes())
            .as_str()
            .to_owned();
        crate::perms::private_file(&data.join("edged.db"))
            .context("cannot make the database private")?;
        let conn = db::open(&data.join("edged.db"))?;
        let events = Events::open(&data.join("edged.db"))?;
        let sites = data.join("sites");
        fs::create_dir_all(&sites)?;
        let ca = Ca::open_or_create(&data.join("ca"), &settings.trust_domain)?;
        let cas = crate::cas::Cas::in_data(data)?;
        let (published, south_roots) = published(&ca, settings.trust_refresh)?;
        let store = Self {
            cas,
            ca: std::sync::RwLock::new(Arc::new(ca)),
            published: std::sync::RwLock::new(published),
            south_roots: edge_api::mtls::TrustRoots::new(south_roots),
            trust_refresh: settings.trust_refresh,
            trust_domain: settings.trust_domain.clone(),
            south_url: Mutex::new(String::new()),
            workspace,
            sites,
            staging,
            db: Mutex::new(conn),
            write: Mutex::new(()),
            token_hash,
            started: Instant::now(),
            registries: Registries {
                insecure: settings.insecure_registries.clone(),
                ..Registries::default()
            },
            sources: edge_workspace::git::SourcePolicy::new(
                &settings.source_allow,
                &settings.source_deny,
                settings.source_max_bytes,
            )
            .map_err(anyhow::Error::msg)?,
            metrics: Metrics::default(),
            events,
            apps_list: Mutex::new((0, None)),
            changes: Mutex::new(HashMap::new()),
            views: Mutex::new(HashMap::new()),
            remote: crate::south::opboard::Board::new(REMOTE_PER_SITE, REMOTE_TOTAL),
        };
        Ok(store)
    }

    fn changes_of(&self, site: &str) -> tokio::sync::watch::Sender<u64> {
        self.changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(site.to_owned())
            .or_insert_with(|| tokio::sync::watch::Sender::new(1))
            .clone()
    }

    /// The commit `main` of `site`'s repository is at; `None` before its
    /// first deploy. Never creates the repository (only a deploy does).
    pub(crate) fn site_head(&self, site: &str) -> anyhow::Result<Option<String>> {
        let dir = self.site_repo(site);
        if !dir.join(".git").is_dir() {
            return Ok(None);
        }
        Ok(Repo::init_or_open(&dir)?.head()?)
    }

    /// The event stream's ring.
    pub(crate) fn events(&self) -> &Events {
        &self.events
    }

    /// Package-local artifacts of deployed apps.
    pub(crate) fn cas(&self) -> &crate::cas::Cas {
        &self.cas
    }

    /// Bump a site's change generation (its LO and long polls notice).
    pub(crate) fn changed(&self, site: &str) {
        tracing::debug!(target: "latency", site, "site changed");
        self.changes_of(site).send_modify(|n| *n += 1);
    }

    /// A receiver that wakes on [`Store::changed`] for `site`.
    pub(crate) fn subscribe(&self, site: &str) -> tokio::sync::watch::Receiver<u64> {
        self.changes_of(site).subscribe()
    }

    /// How many changes `site` has seen in this process (starts at 1).
    pub(crate) fn generation(&self, site: &str) -> u64 {
        *self.changes_of(site).borrow()
    }

    /// `site`'s served views (created empty, never built).
    pub(crate) fn views_of(&self, site: &str) -> Arc<ViewCache> {
        self.views
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(site.to_owned())
            .or_insert_with(|| Arc::new(ViewCache::new(site)))
            .clone()
    }

    /// The database connection.
    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached app list, or the generation to build one for.
    pub(crate) fn cached_apps(&self) -> Result<Arc<[u8]>, u64> {
        let c = self
            .apps_list
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        c.1.clone().ok_or(c.0)
    }

    /// Cache an app list built at `generation`, unless the store changed since.
    pub(crate) fn cache_apps(&self, generation: u64, list: Arc<[u8]>) {
        let mut c = self
            .apps_list
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if c.0 == generation {
            c.1 = Some(list);
        }
    }

    /// Forget the cached app list (after any change to the apps).
    pub(crate) fn apps_changed(&self) {
        let mut c = self
            .apps_list
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        c.0 += 1;
        c.1 = None;
    }

    /// Hold this while changing the workspace.
    pub(crate) fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The workspace root.
    pub(crate) fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The certificate authority.
    pub(crate) fn ca(&self) -> Arc<Ca> {
        self.ca
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Take `ca`, already written to disk by a rotation step: what is
    /// published and what the south listener trusts follow at once.
    pub(crate) fn set_ca(&self, ca: Ca) -> anyhow::Result<()> {
        let (published, roots) = published(&ca, self.trust_refresh)?;
        self.south_roots.replace(roots);
        *self
            .published
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = published;
        *self
            .ca
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(ca);
        Ok(())
    }

    /// The trust domain's discovery document and SPIFFE bundle now.
    pub(crate) fn published(&self) -> Arc<crate::http::trust::Published> {
        self.published
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The anchors the south listener trusts, replaced with the CA.
    pub(crate) fn south_roots(&self) -> edge_api::mtls::TrustRoots {
        self.south_roots.clone()
    }

    /// The SPIFFE trust domain.
    pub(crate) fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The south listener's URL, once bound.
    pub(crate) fn south_url(&self) -> String {
        self.south_url
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Record the south listener's URL.
    pub(crate) fn set_south_url(&self, url: String) {
        *self
            .south_url
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = url;
    }

    /// The folder holding every site's repository.
    pub(crate) fn sites_dir(&self) -> &Path {
        &self.sites
    }

    /// The repository of a site's desired state (one per site, served to its LO).
    pub(crate) fn site_repo(&self, site: &str) -> PathBuf {
        self.sites.join(site)
    }

    /// A fresh, empty staging folder (removed by the caller).
    pub(crate) fn staging_dir(&self) -> PathBuf {
        self.staging.join(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Commit the work tree; returns the commit id (the previous head when
    /// nothing changed).
    pub(crate) fn commit(&self, message: &str) -> anyhow::Result<String> {
        let repo = Repo::init_or_open(&self.workspace)?;
        match repo.commit_all(message, &author())? {
            Some(c) => Ok(c.id),
            None => Ok(repo.head()?.unwrap_or_default()),
        }
    }
}

/// Read the admin token, creating it (mode 0600) on first start.
fn token(path: &Path) -> anyhow::Result<String> {
    if path.exists() {
        let mode = fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the admin token is readable by others; run `chmod 600` on it");
        }
        let t = fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        let t = t.trim().to_owned();
        anyhow::ensure!(
            t.len() >= 32,
            "`{}` holds no usable token; delete it to make a new one",
            path.display()
        );
        return Ok(t);
    }
    let t = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    writeln!(f, "{t}")?;
    f.sync_all()?;
    Ok(t)
}

/// What the Trust Bundle API publishes for `ca`, and its anchors as a store.
fn published(
    ca: &Ca,
    refresh: u64,
) -> anyhow::Result<(Arc<crate::http::trust::Published>, rustls::RootCertStore)> {
    let anchors = rustls::pki_types::CertificateDer::pem_slice_iter(ca.cert_pem().as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("the CA certificates do not read")?;
    let mut roots = rustls::RootCertStore::empty();
    for a in &anchors {
        roots
            .add(a.clone())
            .context("a CA certificate is not usable")?;
    }
    let published =
        crate::http::trust::Published::new(ca.trust_domain(), &anchors, ca.sequence(), refresh)?;
    Ok((Arc::new(published), roots))
}
