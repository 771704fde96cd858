//! Start-up repair: after a crash, the database is made to agree with the
//! workspace and the site repositories, which are the truth. Versions on
//! disk without a row get one, rows without a folder are dropped,
//! uncommitted changes of the workspace are committed (half-copied packages
//! dropped first), sites and devices are reindexed (and removals a crash
//! interrupted finished or forgotten), and every site
//! repository is reset to its `HEAD` and its deployments indexed again.

use std::fs;

use edge_model::MargoDocument as _;
use edge_model::app::ApplicationDescription;
use edge_workspace::git::Repo;

use super::apps::version_row;
use crate::co::db::apps;
use crate::co::store::Store;

/// Make the database agree with the workspace after a crash: versions on
/// disk without a row get one, rows without a folder are dropped, and
/// uncommitted changes are committed.
pub(crate) fn reconcile(store: &Store) -> anyhow::Result<()> {
    let _w = store.write_lock();
    let apps_dir = store.workspace().join("apps");
    // Half-copied packages of an interrupted add are dropped, not committed.
    for app in fs::read_dir(&apps_dir).into_iter().flatten().flatten() {
        for v in fs::read_dir(app.path()).into_iter().flatten().flatten() {
            if v.file_name().to_string_lossy().ends_with(".incoming") {
                let _ = fs::remove_dir_all(v.path());
            }
        }
    }
    let repo = Repo::init_or_open(store.workspace())?;
    let has_files = fs::read_dir(store.workspace())?
        .flatten()
        .any(|e| e.file_name() != ".git");
    let commit = if repo.head()?.is_some() || has_files {
        store.commit("recover changes left uncommitted by an interrupted operation")?
    } else {
        String::new()
    };
    let db = store.db();
    let known = apps::all_versions(&db)?;
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
            apps::delete_versions(&db, &row.app_id, Some(&row.version))?;
        }
    }
    // Sites and devices, then site repositories: drop uncommitted leftovers
    // and index what is committed.
    drop(db);
    super::sites::reindex(store)?;
    super::remove::finish_interrupted(store)?;
    for entry in fs::read_dir(store.sites_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let dir = entry.path();
        if !dir.join(".git").is_dir() {
            continue;
        }
        let site = entry.file_name().to_string_lossy().into_owned();
        let repo = Repo::init_or_open(&dir)?;
        let Some(head) = repo.head()? else { continue };
        repo.restore(&head)?;
        let rows = super::deployments::reindex_site(&mut store.db(), &site, &dir, &head, true)?;
        tracing::debug!(site, deployments = rows.len(), "site index checked");
    }
    let db = store.db();
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
            apps::insert_version(
                &db,
                &version_row(&app_doc.document, &bytes, "workspace", &commit),
            )?;
        }
    }
    Ok(())
}
