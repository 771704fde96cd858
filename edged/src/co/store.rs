//! The CO's state: data directory layout, the Git workspace, the database and
//! the admin token, opened (and repaired) once at start.
//!
//! Writes to the workspace are serialized by one lock, so concurrent requests
//! cannot interleave half-written changes. After a crash, start-up reconciles
//! the database with the workspace: the workspace (Git) is the truth.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::Context as _;
use edge_model::MargoDocument as _;
use edge_model::app::ApplicationDescription;
use edge_workspace::git::{Author, Repo};
use edge_workspace::oci::Registries;
use rusqlite::Connection;

use super::db;
use super::metrics::Metrics;
use crate::settings::Settings;

/// The CO's state, shared by all requests.
pub(crate) struct Store {
    workspace: PathBuf,
    sites: PathBuf,
    staging: PathBuf,
    db: Mutex<Connection>,
    write: Mutex<()>,
    pub(crate) token: String,
    pub(crate) started: Instant,
    pub(crate) registries: Registries,
    pub(crate) metrics: Metrics,
    events: super::events::Events,
    ca: super::identity::Ca,
    trust_domain: String,
    south_url: Mutex<String>,
    /// The serialized app list and the store generation it was built at.
    apps_list: Mutex<(u64, Option<axum::body::Bytes>)>,
    /// Per site, bumped whenever its desired state or revocations change;
    /// its LO long-polls on it (the nudge), and cached views check it.
    changes: Mutex<HashMap<String, tokio::sync::watch::Sender<u64>>>,
    /// Per site: views served to directly attached edge nodes, with the
    /// change generation they were built at; the mutex also serializes
    /// building them (see `reports::CoBackend::device_view`).
    views: Mutex<HashMap<String, SiteViewsCell>>,
    /// Package-local artifacts of what was deployed (`artifacts/`).
    cas: crate::cas::Cas,
}

/// A site's served views and the change generation they were built at.
pub(crate) type SiteViewsCell = Arc<Mutex<SiteViewsCache>>;

/// A site's served views, the change generation they were built at, and
/// its routed deployment files.
#[derive(Default)]
pub(crate) struct SiteViewsCache {
    pub(crate) generation: u64,
    pub(crate) views: Arc<crate::south::view::SiteViews>,
    pub(crate) routes: crate::south::view::RouteCache,
}

/// The author of commits the CO makes on behalf of the admin token.
pub(crate) fn author() -> Author {
    Author {
        name: "edged co".into(),
        email: "edged@localhost".into(),
    }
}

impl Store {
    /// Open the data directory, creating it on first start.
    pub(crate) fn open(settings: &Settings) -> anyhow::Result<Self> {
        let data = &settings.data;
        fs::create_dir_all(data)
            .with_context(|| format!("cannot create the data directory `{}`", data.display()))?;
        let workspace = data.join("workspace");
        Repo::init_or_open(&workspace)
            .with_context(|| format!("cannot open the workspace `{}`", workspace.display()))?;
        let staging = data.join("staging");
        if staging.exists() {
            fs::remove_dir_all(&staging)
                .with_context(|| format!("cannot clean `{}`", staging.display()))?;
        }
        fs::create_dir_all(&staging)?;
        let token = token(&data.join("admin.token"))?;
        let conn = db::open(&data.join("edged.db"))?;
        let sites = data.join("sites");
        fs::create_dir_all(&sites)?;
        let ca = super::identity::Ca::open_or_create(&data.join("ca"), &settings.trust_domain)?;
        let cas = crate::cas::Cas::open(&data.join("artifacts"))?;
        let store = Self {
            cas,
            ca,
            trust_domain: settings.trust_domain.clone(),
            south_url: Mutex::new(String::new()),
            workspace,
            sites,
            staging,
            db: Mutex::new(conn),
            write: Mutex::new(()),
            token,
            started: Instant::now(),
            registries: Registries {
                insecure: settings.insecure_registries.clone(),
            },
            metrics: Metrics::default(),
            events: super::events::Events::default(),
            apps_list: Mutex::new((0, None)),
            changes: Mutex::new(HashMap::new()),
            views: Mutex::new(HashMap::new()),
        };
        store.reconcile()?;
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

    /// Tell `site`'s waiting LO that its desired state or revocations changed.
    /// The event stream's ring.
    pub(crate) fn events(&self) -> &super::events::Events {
        &self.events
    }

    /// Package-local artifacts of deployed apps.
    pub(crate) fn cas(&self) -> &crate::cas::Cas {
        &self.cas
    }

    /// Bump a site's change generation (its LO and long polls notice).
    pub(crate) fn changed(&self, site: &str) {
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

    /// The cell holding `site`'s served views (created empty, generation 0).
    pub(crate) fn views_of(&self, site: &str) -> SiteViewsCell {
        self.views
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(site.to_owned())
            .or_default()
            .clone()
    }

    /// The database connection.
    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached app list, or the generation to build one for.
    pub(crate) fn cached_apps(&self) -> Result<axum::body::Bytes, u64> {
        let c = self
            .apps_list
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        c.1.clone().ok_or(c.0)
    }

    /// Cache an app list built at `generation`, unless the store changed since.
    pub(crate) fn cache_apps(&self, generation: u64, list: axum::body::Bytes) {
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
    pub(crate) fn ca(&self) -> &super::identity::Ca {
        &self.ca
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

    /// Make the database agree with the workspace after a crash: versions on
    /// disk without a row get one, rows without a folder are dropped, and
    /// uncommitted changes are committed.
    fn reconcile(&self) -> anyhow::Result<()> {
        let _w = self.write_lock();
        let apps_dir = self.workspace.join("apps");
        // Half-copied packages of an interrupted add are dropped, not committed.
        for app in fs::read_dir(&apps_dir).into_iter().flatten().flatten() {
            for v in fs::read_dir(app.path()).into_iter().flatten().flatten() {
                if v.file_name().to_string_lossy().ends_with(".incoming") {
                    let _ = fs::remove_dir_all(v.path());
                }
            }
        }
        let repo = Repo::init_or_open(&self.workspace)?;
        let has_files = fs::read_dir(&self.workspace)?
            .flatten()
            .any(|e| e.file_name() != ".git");
        let commit = if repo.head()?.is_some() || has_files {
            self.commit("recover changes left uncommitted by an interrupted operation")?
        } else {
            String::new()
        };
        let db = self.db();
        let known = db::all_versions(&db)?;
        for row in &known {
            if !apps_dir
                .join(&row.app_id)
                .join(&row.version)
                .join("margo.yaml")
                .is_file()
            {
                tracing::warn!(
                    app = row.app_id,
                    version = row.version,
                    "dropping an index entry whose files are gone"
                );
                db::delete_versions(&db, &row.app_id, Some(&row.version))?;
            }
        }
        // Sites and devices, then site repositories: drop uncommitted leftovers
        // and index what is committed.
        drop(db);
        super::sites::reindex(self)?;
        for entry in fs::read_dir(&self.sites).into_iter().flatten().flatten() {
            let dir = entry.path();
            if !dir.join(".git").is_dir() {
                continue;
            }
            let site = entry.file_name().to_string_lossy().into_owned();
            let repo = Repo::init_or_open(&dir)?;
            let Some(head) = repo.head()? else { continue };
            repo.restore(&head)?;
            let rows = super::deployments::reindex_site(&mut self.db(), &site, &dir, &head, true)?;
            tracing::debug!(site, deployments = rows.len(), "site index checked");
        }
        let db = self.db();
        let Ok(ids) = fs::read_dir(&apps_dir) else {
            return Ok(());
        };
        for id in ids.flatten() {
            let Ok(versions) = fs::read_dir(id.path()) else {
                continue;
            };
            for v in versions.flatten() {
                let (app, version) = (
                    id.file_name().to_string_lossy().into_owned(),
                    v.file_name().to_string_lossy().into_owned(),
                );
                if known
                    .iter()
                    .any(|r| r.app_id == app && r.version == version)
                {
                    continue;
                }
                let bytes = fs::read(v.path().join("margo.yaml")).unwrap_or_default();
                let Ok(app_doc) = ApplicationDescription::from_slice(&bytes) else {
                    continue;
                };
                tracing::warn!(app, version, "indexing a version found in the workspace");
                db::insert_version(
                    &db,
                    &version_row(&app_doc.document, &bytes, "workspace", &commit),
                )?;
            }
        }
        Ok(())
    }
}

/// The index row of a stored description.
pub(crate) fn version_row(
    app: &ApplicationDescription,
    margo_yaml: &[u8],
    source: &str,
    commit: &str,
) -> db::VersionRow {
    db::VersionRow {
        app_id: app.metadata.id.to_string(),
        version: app.metadata.version.clone(),
        name: app.metadata.name.clone(),
        organization: app
            .metadata
            .catalog
            .organization
            .first()
            .map(|o| o.name.clone())
            .unwrap_or_default(),
        description: app.metadata.description.clone(),
        profiles: app
            .deployment_profiles
            .iter()
            .map(|p| p.profile_type.to_string())
            .collect(),
        source: source.to_owned(),
        commit_id: commit.to_owned(),
        added_at: crate::clock::now(),
        digest: edge_model::digest::sha256(margo_yaml).to_string(),
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
