//! The views of one site being served and their rebuilding: the one cache
//! both servers of the Margo API use — the LO for its site, the CO for each
//! site with edge nodes attached to it directly.
//!
//! Reading the current views takes no lock that a rebuild holds for long.
//! Rebuilding, and giving a device missing from the views its first (empty)
//! manifest, happen one at a time under [`Building`], so no version is ever
//! assigned from views that are about to be replaced. A rebuild routes and
//! bundles before it locks the database; a failed one leaves the previous
//! views in service.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use edge_workspace::git::Mirror;
use rusqlite::Connection;

use super::{DeviceView, RouteCache, SiteViews, empty_view};

/// One site's served views.
pub(crate) struct ViewCache {
    /// The scope of its manifest versions (the site).
    scope: String,
    served: RwLock<Arc<SiteViews>>,
    building: Mutex<BuildState>,
}

#[derive(Default)]
struct BuildState {
    /// Deployment files routed before, by blob id.
    routes: RouteCache,
    /// What the owner marked the served views with (0: never built).
    stamp: u64,
}

/// Why the views could not be rebuilt (the previous ones stay).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RebuildError {
    /// The deployment files at the head cannot be read or routed.
    #[error(transparent)]
    Stage(anyhow::Error),
    /// The new manifest versions cannot be stored.
    #[error("cannot store the manifest versions")]
    Store(#[source] rusqlite::Error),
}

/// The right to rebuild a site's views or assign a first manifest.
pub(crate) struct Building<'a> {
    cache: &'a ViewCache,
    state: MutexGuard<'a, BuildState>,
}

impl ViewCache {
    /// No views yet (every device gets an empty manifest until a rebuild).
    pub(crate) fn new(scope: impl Into<String>) -> Self {
        Self::naming_registry(scope, None)
    }

    /// As [`ViewCache::new`], its views naming each package-local artifact
    /// in the registry at `host` (`host[:port]`, what the nodes dial) when
    /// one is given.
    pub(crate) fn naming_registry(scope: impl Into<String>, host: Option<String>) -> Self {
        Self {
            scope: scope.into(),
            served: RwLock::new(Arc::new(SiteViews::default())),
            building: Mutex::new(BuildState {
                routes: RouteCache::naming_registry(host),
                stamp: 0,
            }),
        }
    }

    /// The views being served.
    pub(crate) fn current(&self) -> Arc<SiteViews> {
        self.served
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Wait for any rebuild to finish, and keep others out.
    pub(crate) fn lock(&self) -> Building<'_> {
        Building {
            cache: self,
            state: self.building.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// What `device` is served now: its current view, else (under the
    /// build lock) its first, empty manifest.
    pub(crate) fn view<G: Deref<Target = Connection>>(
        &self,
        device: &str,
        db: impl FnOnce() -> G,
    ) -> rusqlite::Result<Arc<DeviceView>> {
        if let Some(v) = self.current().devices.get(device) {
            return Ok(v.clone());
        }
        self.lock().view(device, &db())
    }
}

impl Building<'_> {
    /// The mark the served views were built with (0 before the first build).
    pub(crate) fn stamp(&self) -> u64 {
        self.state.stamp
    }

    /// Build the views of `head` in `repo` (`None`: a site without commits),
    /// store their versions through `db` and serve them from now on, marked
    /// with `stamp`. Routing and bundling happen before `db` is called.
    pub(crate) fn rebuild<G: DerefMut<Target = Connection>>(
        &mut self,
        repo: &Mirror,
        head: Option<String>,
        stamp: u64,
        db: impl FnOnce() -> G,
    ) -> Result<Arc<SiteViews>, RebuildError> {
        let previous = self.cache.current();
        let staged = self
            .state
            .routes
            .stage(repo, head, &previous)
            .map_err(RebuildError::Stage)?;
        let views = Arc::new(
            staged
                .commit(&mut db(), &self.cache.scope, &previous)
                .map_err(RebuildError::Store)?,
        );
        *self
            .cache
            .served
            .write()
            .unwrap_or_else(PoisonError::into_inner) = views.clone();
        self.state.stamp = stamp;
        Ok(views)
    }

    /// What `device` is served: its current view, else its first, empty
    /// manifest (its version stored through `c`).
    pub(crate) fn view(&self, device: &str, c: &Connection) -> rusqlite::Result<Arc<DeviceView>> {
        if let Some(v) = self.cache.current().devices.get(device) {
            return Ok(v.clone());
        }
        Ok(Arc::new(empty_view(c, &self.cache.scope, device)?))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use edge_workspace::git::{Author, Repo};

    use super::*;
    use crate::south::view::versions;

    const A: &str = "0b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";

    fn commit(dir: &Path, file: &str, body: &str) -> String {
        std::fs::create_dir_all(dir.join("deployments")).unwrap();
        std::fs::write(dir.join("deployments").join(file), body).unwrap();
        let author = Author {
            name: "test".into(),
            email: "test@localhost".into(),
        };
        let repo = Repo::init_or_open(dir).unwrap();
        repo.commit_all("change", &author).unwrap().unwrap().id
    }

    #[test]
    fn a_failed_rebuild_keeps_the_served_views_and_an_unknown_device_gets_an_empty_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        let db = Mutex::new(Connection::open(dir.path().join("v.db")).unwrap());
        db.lock().unwrap().execute_batch(versions::SCHEMA).unwrap();
        let cache = ViewCache::new("s");
        let good = format!("metadata:\n  annotations:\n    id: {A}\n  deviceId: d\n");
        let first = commit(&site, &format!("{A}.yaml"), &good);
        let mirror = Mirror::at(&site);
        let mut building = cache.lock();
        assert_eq!(building.stamp(), 0, "never built");
        building
            .rebuild(&mirror, Some(first.clone()), 7, || db.lock().unwrap())
            .unwrap();
        assert_eq!(building.stamp(), 7);
        drop(building);
        assert_eq!(cache.current().devices["d"].docs.len(), 1);
        // A file that cannot be routed fails the rebuild; the views stay.
        let second = commit(&site, "other.yaml", "metadata: {}\n");
        let err = cache
            .lock()
            .rebuild(&mirror, Some(second), 8, || db.lock().unwrap())
            .unwrap_err();
        assert!(matches!(err, RebuildError::Stage(_)), "{err}");
        assert_eq!(cache.current().head.as_deref(), Some(first.as_str()));
        assert_eq!(cache.lock().stamp(), 7);
        let other = cache.view("e", || db.lock().unwrap()).unwrap();
        assert!(other.docs.is_empty() && other.bundle.is_none());
    }
}
