//! The app store's operations: add packages from an upload, a Git URL or an
//! OCI reference; list, show and remove them.
//!
//! Adding always goes the same way: fetch into a private staging folder,
//! validate with the model (every problem reported, nothing stored when any),
//! refuse duplicate versions and id clashes, move the package into
//! `apps/<id>/<version>/` of the workspace, commit, then index it. A failure
//! at any step leaves the store as it was.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use edge_api::types::{AddAppRequest, AppDetail, AppSummary, AppVersion, SourceKind};
use edge_model::MargoDocument as _;
use edge_model::app::ApplicationDescription;
use edge_workspace::archive::{self, Limits};
use edge_workspace::check_package;
use edge_workspace::git::{GitError, SourcePolicy};

use crate::co::db::apps::{self as db, VersionRow};
use crate::co::db::deployments::deployments_of;
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::blocking;

/// The app list as JSON, built now and cached for `generation` (what
/// [`Store::cached_apps`] asked for): with 10,000 apps, building it takes
/// tens of milliseconds, serving the cached one none.
pub(crate) fn list(store: &Store, generation: u64) -> Result<Arc<[u8]>, ApiError> {
    let body: Arc<[u8]> = serde_json::to_vec(&summaries(db::all_versions(&store.db())?))
        .unwrap_or_default()
        .into();
    store.cache_apps(generation, body.clone());
    Ok(body)
}

fn summaries(rows: Vec<VersionRow>) -> Vec<AppSummary> {
    let mut out: Vec<AppSummary> = Vec::new();
    for row in rows {
        match out.last_mut() {
            Some(last) if last.id == row.app_id => {
                last.versions.push(row.version.clone());
                last.latest = row.version;
                last.name = row.name;
                last.profiles = row.profiles;
                last.description = row.description;
            }
            _ => out.push(AppSummary {
                id: row.app_id,
                name: row.name,
                latest: row.version.clone(),
                versions: vec![row.version],
                profiles: row.profiles,
                description: row.description,
            }),
        }
    }
    out
}

/// Add an app from a Git repository or an OCI registry.
pub(crate) async fn add(store: Arc<Store>, req: AddAppRequest) -> Result<AppDetail, ApiError> {
    let staged = store.staging_dir();
    let _cleanup = Cleanup(staged.clone());
    match req.source {
        SourceKind::Git => {
            let (url, reference, dest) = (req.url.clone(), req.reference.clone(), staged.clone());
            let policy = store.sources.clone();
            blocking(move || {
                edge_workspace::git::fetch_package(&url, reference.as_deref(), &dest, &policy)
                    .map_err(|e| match e {
                        GitError::SourceNotAllowed { .. } => ApiError::unprocessable(e.to_string()),
                        _ => ApiError::upstream(e.to_string()),
                    })
            })
            .await?;
        }
        SourceKind::Oci => {
            if req.reference.is_some() {
                return Err(ApiError::bad_request(
                    "`reference` is for Git sources; put the tag in the OCI reference (`repo:tag`)",
                ));
            }
            let (url, policy) = (req.url.clone(), store.sources.clone());
            blocking(move || registry_allowed(&url, &policy)).await?;
            edge_workspace::oci::pull_package(&req.url, &staged, &store.registries)
                .await
                .map_err(|e| ApiError::upstream(e.to_string()))?;
        }
    }
    // Credentials in a URL are used for the fetch, never recorded or logged.
    let source = redact(&req.url);
    blocking(move || ingest(&store, &staged, &source, req.name.as_deref())).await
}

/// Refuse an OCI reference whose registry is not a host app sources may
/// reach (checked on its resolved addresses; the same sentence whether it
/// resolves or not).
fn registry_allowed(reference: &str, policy: &SourcePolicy) -> Result<(), ApiError> {
    let bare = reference.strip_prefix("oci://").unwrap_or(reference);
    let first = bare.split('/').next().unwrap_or_default();
    let registry = if bare.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        first
    } else {
        "registry-1.docker.io"
    };
    let (host, port) = match registry.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (h, p.parse().unwrap_or(443)),
        _ => (registry, 443),
    };
    if policy.addresses(host, port).is_empty() {
        return Err(ApiError::unprocessable(format!(
            "`{reference}` cannot be used as an app source: its registry is not a host app sources may reach (loopback, private, link-local and unique-local addresses, and names that resolve to them or not at all, are refused unless the CO allows them with `--source-allow`)"
        )));
    }
    Ok(())
}

/// Add an app from an uploaded package (a tar, optionally gzip, of the
/// package folder; `name` is the folder's, for the record).
pub(crate) fn upload(
    store: &Store,
    body: &[u8],
    name: Option<&str>,
) -> Result<AppDetail, ApiError> {
    let staged = store.staging_dir();
    let _cleanup = Cleanup(staged.clone());
    archive::unpack(body, &staged, Limits::default())
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let source = format!("upload:{}", name.unwrap_or("package"));
    ingest(store, &staged, &source, None)
}

/// One app (by id or display name): metadata, profiles, parameters and
/// schema, versions.
pub(crate) fn show(store: &Store, app: &str) -> Result<AppDetail, ApiError> {
    let id = resolve(store, app)?;
    let rows = db::versions_of(&store.db(), &id)?;
    detail(store, &id, &rows)
}

/// Remove an app (or one version of it); refused while deployed unless `force`.
pub(crate) fn remove(
    store: &Store,
    app: &str,
    version: Option<&str>,
    force: bool,
) -> Result<(), ApiError> {
    let id = resolve(store, app)?;
    let _w = store.write_lock();
    let conn = store.db();
    let rows = db::versions_of(&conn, &id)?;
    if let Some(v) = version
        && !rows.iter().any(|r| r.version == v)
    {
        return Err(ApiError::not_found(format!(
            "app `{id}` has no version `{v}`"
        )));
    }
    let deployed = deployments_of(&conn, &id, version)?;
    if deployed > 0 && !force {
        return Err(ApiError::conflict(format!(
            "app `{id}` is deployed {deployed} time(s); undeploy it first, or remove with --force"
        )));
    }
    let app_dir = store.workspace().join("apps").join(&id);
    let target = match version {
        Some(v) => app_dir.join(v),
        None => app_dir.clone(),
    };
    fs::remove_dir_all(&target).map_err(|e| {
        ApiError::internal(
            &anyhow::Error::new(e).context(format!("cannot remove `{}`", target.display())),
        )
    })?;
    if app_dir.read_dir().is_ok_and(|mut d| d.next().is_none()) {
        let _ = fs::remove_dir(&app_dir);
    }
    let what = version.map_or_else(|| format!("app {id}"), |v| format!("app {id} {v}"));
    store.commit(&format!("remove {what}"))?;
    db::delete_versions(&conn, &id, version)?;
    store.apps_changed();
    store.events().publish(
        "app.removed",
        &id,
        None,
        serde_json::json!({"version": version}),
    );
    Ok(())
}

/// The id of the app named by `key`: an id, else a unique display name.
pub(crate) fn resolve(store: &Store, key: &str) -> Result<String, ApiError> {
    let conn = store.db();
    if !db::versions_of(&conn, key)?.is_empty() {
        return Ok(key.to_owned());
    }
    let ids = db::apps_named(&conn, key)?;
    match ids.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(super::suggest::no_app(
            &conn,
            key,
            " (by id or name); `edgectl co list apps` lists them",
        )),
        many => Err(ApiError::conflict(format!(
            "`{key}` names several apps ({}); use the id",
            many.join(", ")
        ))),
    }
}

/// The stored description of `version` of app `id`; one that cannot be read
/// is an internal error (the store only holds valid ones).
pub(crate) fn stored_description(
    store: &Store,
    id: &str,
    version: &str,
) -> Result<ApplicationDescription, ApiError> {
    let file = store
        .workspace()
        .join("apps")
        .join(id)
        .join(version)
        .join("margo.yaml");
    let bytes = fs::read(&file).map_err(|e| {
        ApiError::internal(
            &anyhow::Error::new(e).context(format!("cannot read `{}`", file.display())),
        )
    })?;
    let app = ApplicationDescription::from_slice(&bytes).map_err(|e| {
        ApiError::internal(&anyhow::Error::new(e).context(format!(
            "stored description `{}` no longer reads",
            file.display()
        )))
    })?;
    Ok(app.document)
}

fn detail(store: &Store, id: &str, rows: &[VersionRow]) -> Result<AppDetail, ApiError> {
    let newest = rows
        .last()
        .ok_or_else(|| ApiError::not_found(format!("no app `{id}` in the store")))?;
    let app = stored_description(store, id, &newest.version)?;
    Ok(AppDetail {
        id: id.to_owned(),
        name: newest.name.clone(),
        versions: rows
            .iter()
            .map(|r| AppVersion {
                version: r.version.clone(),
                source: r.source.clone(),
                commit: r.commit_id.clone(),
                added_at: r.added_at.clone(),
                digest: r.digest.clone(),
            })
            .collect(),
        description: serde_json::to_value(&app).unwrap_or_default(),
    })
}

/// Validate the staged package and store it.
fn ingest(
    store: &Store,
    staged: &Path,
    source: &str,
    name: Option<&str>,
) -> Result<AppDetail, ApiError> {
    let root = match name
        .filter(|n| is_segment(n))
        .map(|n| staged.join(n))
        .filter(|p| p.join("margo.yaml").is_file())
    {
        Some(sub) => sub,
        None => staged.to_path_buf(),
    };
    // Links are refused before anything is read through them.
    if let Some(link) = find_link(&root) {
        return Err(ApiError::unprocessable(format!(
            "`{}` in the package is a link or special file; stored packages hold plain files and folders only",
            link.strip_prefix(&root).unwrap_or(&link).display()
        )));
    }
    let check = check_package(&root).map_err(|e| ApiError::unprocessable(e.sentence()))?;
    let Some(app) = check.description else {
        return Err(ApiError::invalid(
            format!(
                "the package is not valid ({} problem(s)); nothing was stored",
                check.report.errors.len()
            ),
            &check.report.errors,
            "margo.yaml",
        ));
    };
    let (id, version) = (app.metadata.id.to_string(), app.metadata.version.clone());
    if let Some(n) = name
        && root == staged
        && n != id
        && !n.eq_ignore_ascii_case(&app.metadata.name)
    {
        return Err(ApiError::unprocessable(format!(
            "the package is app `{id}` (\"{}\"), not `{n}`",
            app.metadata.name
        )));
    }
    if !is_segment(&version) {
        return Err(ApiError::unprocessable(format!(
            "version `{version}` cannot be stored: use letters, digits, `.`, `-`, `_` and `+` (such as 1.2.0)"
        )));
    }
    let margo_yaml =
        fs::read(root.join("margo.yaml")).map_err(|e| ApiError::internal(&e.into()))?;
    let _w = store.write_lock();
    let conn = store.db();
    let existing = db::versions_of(&conn, &id)?;
    if existing.iter().any(|r| r.version == version) {
        return Err(ApiError::conflict(format!(
            "app `{id}` version `{version}` is already in the store; remove it first or raise `metadata.version`"
        )));
    }
    let organization = app
        .metadata
        .catalog
        .organization
        .first()
        .map(|o| o.name.clone())
        .unwrap_or_default();
    if let Some(first) = existing.first()
        && (first.name != app.metadata.name || first.organization != organization)
    {
        return Err(ApiError::conflict(format!(
            "app id `{id}` already belongs to a different package (\"{}\" by {}); two packages cannot share an id",
            first.name, first.organization
        )));
    }
    let app_dir = store.workspace().join("apps").join(&id);
    let dest = app_dir.join(&version);
    let incoming = app_dir.join(format!(".{version}.incoming"));
    let result = (|| -> anyhow::Result<String> {
        let _ = fs::remove_dir_all(&incoming);
        copy_dir(&root, &incoming)?;
        fs::rename(&incoming, &dest)?;
        store.commit(&format!("add app {id} {version}\n\nsource: {source}"))
    })();
    let commit = match result {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_dir_all(&incoming);
            let _ = fs::remove_dir_all(&dest);
            return Err(ApiError::internal(&e.context("storing the package")));
        }
    };
    let row = version_row(&app, &margo_yaml, source, &commit);
    if let Err(e) = db::insert_version(&conn, &row) {
        let _ = fs::remove_dir_all(&dest);
        let _ = store.commit(&format!("undo add app {id} {version}: indexing failed"));
        return Err(e.into());
    }
    store.apps_changed();
    store.events().publish(
        "app.added",
        &id,
        None,
        serde_json::json!({"version": version}),
    );
    tracing::info!(app = id, version, source, commit, "app added");
    let rows = db::versions_of(&conn, &id)?;
    drop(conn);
    detail(store, &id, &rows)
}

/// The index row of a stored description.
pub(crate) fn version_row(
    app: &ApplicationDescription,
    margo_yaml: &[u8],
    source: &str,
    commit: &str,
) -> VersionRow {
    VersionRow {
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

/// A URL without its user information (`https://user:token@host/…` → `https://host/…`).
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() && !rest.contains('/') {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => url.to_owned(),
    }
}

/// One safe path segment.
fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s != "."
        && s != ".."
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
}

/// The first link or special file below `dir` (`.git` skipped).
fn find_link(dir: &Path) -> Option<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).ok()?.flatten() {
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).ok()?;
            if meta.is_dir() {
                if entry.file_name() != ".git" {
                    stack.push(path);
                }
            } else if !meta.is_file() {
                return Some(path);
            }
        }
    }
    None
}

/// Copy a package folder; links are refused (packages hold plain files).
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = fs::symlink_metadata(&src)?;
        if meta.is_dir() {
            if entry.file_name() == ".git" {
                continue;
            }
            copy_dir(&src, &dst)?;
        } else if meta.is_file() {
            fs::copy(&src, &dst)?;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            fs::set_permissions(&dst, fs::Permissions::from_mode(mode))?;
        } else {
            anyhow::bail!(
                "`{}` is a link or special file; packages hold plain files",
                src.display()
            );
        }
    }
    Ok(())
}

/// Removes a staging folder when dropped.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_are_redacted_from_sources() {
        assert_eq!(
            super::redact("https://user:tok3n@git.example.com/apps.git"),
            "https://git.example.com/apps.git"
        );
        assert_eq!(
            super::redact("https://git.example.com/apps.git"),
            "https://git.example.com/apps.git"
        );
        assert_eq!(
            super::redact("oci://u:p@reg:5000/a/b:1.0.0"),
            "oci://reg:5000/a/b:1.0.0"
        );
        assert_eq!(super::redact("reg:5000/a:1"), "reg:5000/a:1");
    }
}
