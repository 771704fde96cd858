//! Application packages on disk: a folder holding `margo.yaml` and, usually,
//! `resources/` and package-local component artifacts.
//!
//! [`check_package`] validates the description with the model and then the
//! files it names: catalog files must exist inside the package, package-local
//! artifacts must exist, a `wasm` component's artifact must be a well-formed
//! WebAssembly module (`module.rs`), and a compose component folder must
//! follow the Margo compose archive rules (only `compose.yaml`, no links
//! leaving the folder, no setuid, setgid or sticky bits). Nothing is written.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use edge_model::app::ApplicationDescription;
use edge_model::document::{DocumentKind, check_document};
use edge_model::issue::{Report, Rule};
use edge_model::load::{LoadError, MAX_DOCUMENT_BYTES};
use edge_model::{Document, ProfileType};

mod module;

/// The file name of the description in a package.
pub const DESCRIPTION_FILE: &str = "margo.yaml";

/// Most entries walked in one compose folder.
const MAX_COMPOSE_ENTRIES: usize = 10_000;

/// The result of checking a package folder.
#[derive(Debug, Clone)]
pub struct PackageCheck {
    /// The description, when the package is valid.
    pub description: Option<ApplicationDescription>,
    /// Every error and note, paths relative to the description.
    pub report: Report,
}

/// Why a document file or a package's description could not be read at all
/// (what is wrong inside it is a [`Report`] instead).
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The file cannot be read.
    #[error("cannot read")]
    Read(#[source] std::io::Error),
    /// The path is a folder.
    #[error("is a directory")]
    Directory,
    /// The file is larger than the model reads.
    #[error(transparent)]
    TooLarge(LoadError),
    /// The folder holds no description.
    #[error(
        "no `{DESCRIPTION_FILE}` here; an application package is a folder with `{DESCRIPTION_FILE}` and `resources/`"
    )]
    NoDescription,
    /// The description is not a document.
    #[error(transparent)]
    Document(#[from] LoadError),
}

impl PackageError {
    /// The error and its causes as one sentence (for a report line or a
    /// problem detail, where no chain is printed).
    #[must_use]
    pub fn sentence(&self) -> String {
        let mut out = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            out.push_str(": ");
            out.push_str(&e.to_string());
            next = e.source();
        }
        out
    }
}

/// Read a document file, refusing anything larger than the model accepts
/// before reading it.
///
/// # Errors
/// When it cannot be read, is a folder or is too large.
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, PackageError> {
    let file = fs::File::open(path).map_err(PackageError::Read)?;
    let meta = file.metadata().map_err(PackageError::Read)?;
    if meta.is_dir() {
        return Err(PackageError::Directory);
    }
    let limit = MAX_DOCUMENT_BYTES as u64;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(PackageError::Read)?;
    if bytes.len() as u64 > limit {
        let size = meta.len().max(limit + 1) as usize;
        return Err(PackageError::TooLarge(LoadError::TooLarge {
            size,
            limit: MAX_DOCUMENT_BYTES,
        }));
    }
    Ok(bytes)
}

/// Check the package in `dir`.
///
/// # Errors
/// Only when `margo.yaml` cannot be read as a document at all.
pub fn check_package(dir: &Path) -> Result<PackageCheck, PackageError> {
    let file = dir.join(DESCRIPTION_FILE);
    if !file.is_file() {
        return Err(PackageError::NoDescription);
    }
    let bytes = read_bounded(&file)?;
    let outcome = check_document(&bytes)?;
    let mut report = outcome.report;
    if outcome.kind != Some(DocumentKind::ApplicationDescription) {
        if report.is_valid() {
            let found = outcome
                .kind
                .map_or("an unknown document", DocumentKind::as_str);
            report.error(
                "kind",
                Rule::Kind,
                format!("`{DESCRIPTION_FILE}` must be an ApplicationDescription, found {found}"),
            );
        }
        return Ok(PackageCheck {
            description: None,
            report,
        });
    }
    let Some(Document::ApplicationDescription(app)) = outcome.document else {
        return Ok(PackageCheck {
            description: None,
            report,
        });
    };
    check_files(dir, &app, &mut report);
    let description = report.is_valid().then_some(*app);
    Ok(PackageCheck {
        description,
        report,
    })
}

fn check_files(dir: &Path, app: &ApplicationDescription, r: &mut Report) {
    let root = match dir.canonicalize() {
        Ok(root) => root,
        Err(e) => {
            r.error(
                "",
                Rule::File,
                format!("cannot resolve the package folder: {e}"),
            );
            return;
        }
    };
    if let Some(catalog) = &app.metadata.catalog.application {
        for (key, rel) in catalog.files() {
            let at = format!("metadata.catalog.application.{key}");
            match resolve(&root, rel) {
                Ok(p) if p.is_file() => {}
                Ok(_) => r.error(
                    at,
                    Rule::File,
                    format!("`{rel}` is not a file in the package"),
                ),
                Err(msg) => r.error(at, Rule::File, msg),
            }
        }
    }
    for (i, profile) in app.deployment_profiles.iter().enumerate() {
        for (j, c) in profile.components.iter().enumerate() {
            let Some(rel) = c.properties.local_path() else {
                continue;
            };
            let at = format!("deploymentProfiles[{i}].components[{j}].properties.repository");
            let path = match resolve(&root, rel) {
                Ok(p) => p,
                Err(msg) => {
                    r.error(at, Rule::File, msg);
                    continue;
                }
            };
            match profile.profile_type {
                ProfileType::Compose => check_compose_dir(&path, rel, &at, r),
                ProfileType::Container => r.error(
                    at,
                    Rule::File,
                    format!("`{rel}`: a container component names an image, `oci://REGISTRY/NAME`, not a file"),
                ),
                ProfileType::Process => match fs::metadata(&path) {
                    Ok(m) if m.is_file() => {
                        if m.permissions().mode() & 0o111 == 0 {
                            r.error(at, Rule::File, format!("`{rel}` is not executable"));
                        }
                    }
                    _ => r.error(
                        at,
                        Rule::File,
                        format!("`{rel}` is not a file in the package"),
                    ),
                },
                ProfileType::Wasm if path.is_file() => {
                    if let Err(msg) = module::check_module(&path, rel) {
                        r.error(at, Rule::File, msg);
                    }
                }
                _ => {
                    if !path.is_file() {
                        r.error(
                            at,
                            Rule::File,
                            format!("`{rel}` is not a file in the package"),
                        );
                    }
                }
            }
        }
    }
}

/// Resolve a package-relative path, refusing anything that leaves the package
/// (also through symbolic links).
fn resolve(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let rel_path = Path::new(rel);
    if rel_path.components().any(|c| {
        matches!(
            c,
            Component::ParentDir | Component::RootDir | Component::Prefix(_)
        )
    }) {
        return Err(format!("`{rel}` must stay inside the package"));
    }
    let joined = root.join(rel_path);
    let real = joined
        .canonicalize()
        .map_err(|_| format!("`{rel}` does not exist in the package"))?;
    if !real.starts_with(root) {
        return Err(format!("`{rel}` leads outside the package"));
    }
    Ok(real)
}

/// The Margo compose archive rules, applied to the folder that becomes the
/// archive's top directory.
fn check_compose_dir(dir: &Path, rel: &str, at: &str, r: &mut Report) {
    if !dir.is_dir() {
        r.error(
            at,
            Rule::File,
            format!("`{rel}` must be a folder holding `compose.yaml`"),
        );
        return;
    }
    if !dir.join("compose.yaml").is_file() {
        let other = ["compose.yml", "docker-compose.yaml", "docker-compose.yml"]
            .into_iter()
            .find(|n| dir.join(n).exists());
        let hint = other
            .map(|n| format!(" (found `{n}`: Margo allows only `compose.yaml`)"))
            .unwrap_or_default();
        r.error(
            at,
            Rule::File,
            format!("`{rel}` has no `compose.yaml`{hint}"),
        );
    }
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            r.error(at, Rule::File, format!("cannot read `{}`", d.display()));
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_COMPOSE_ENTRIES {
                r.error(
                    at,
                    Rule::File,
                    format!("`{rel}` holds more than {MAX_COMPOSE_ENTRIES} entries"),
                );
                return;
            }
            let path = entry.path();
            let shown = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                let inside = path.canonicalize().is_ok_and(|t| t.starts_with(dir));
                if !inside {
                    r.error(
                        at,
                        Rule::File,
                        format!("`{shown}` in `{rel}` is a link that leads outside the folder"),
                    );
                }
                continue;
            }
            if meta.permissions().mode() & 0o7000 != 0 {
                r.error(
                    at,
                    Rule::File,
                    format!("`{shown}` in `{rel}` has a setuid, setgid or sticky bit"),
                );
            }
            if meta.is_dir() {
                stack.push(path);
            } else if meta.nlink() > 1 {
                r.error(
                    at,
                    Rule::File,
                    format!("`{shown}` in `{rel}` is a hard link"),
                );
            }
        }
    }
}
