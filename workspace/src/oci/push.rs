//! [`push_package`]: check a package folder and push it to a registry as a
//! Margo artifact, one layer per file, tagged with the package version. Links,
//! special files and anything over the limits are refused before any upload.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use edge_model::digest::sha256;
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use oci_client::{Client, Reference};

use super::{
    ARTIFACT_TYPE, DESCRIPTION_MEDIA_TYPE, EMPTY_DATA, EMPTY_DIGEST, EMPTY_MEDIA_TYPE,
    FILE_MEDIA_TYPE, MAX_LAYER_BYTES, MAX_LAYERS, MAX_PACKAGE_BYTES, MODE_ANNOTATION, OciError,
    RESOURCE_ANNOTATION, Registries, TITLE_ANNOTATION, Target, VERSION_ANNOTATION, client,
    parse_reference, safe_title, strip_scheme,
};
use crate::package::{DESCRIPTION_FILE, check_package};

/// Push the package in `dir` to `reference`; returns the manifest digest.
/// A reference without a tag gets `metadata.version` as its tag.
pub async fn push_package(
    dir: &Path,
    reference: &str,
    registries: &Registries,
) -> Result<String, OciError> {
    let (image, explicit_tag) = parse_reference(reference)?;
    if image.digest().is_some() {
        return Err(OciError::Reference {
            reference: strip_scheme(reference).to_owned(),
            reason: "a push names a tag, not a digest".into(),
        });
    }
    let owned = dir.to_path_buf();
    let package = tokio::task::spawn_blocking(move || read_package(&owned))
        .await
        .map_err(|e| OciError::Internal(format!("reading the package: {e}")))??;
    let image = match image.tag() {
        Some(tag) if explicit_tag && tag != package.version => {
            return Err(OciError::TagMismatch {
                tag: tag.to_owned(),
                version: package.version,
                repository: format!("{}/{}", image.registry(), image.repository()),
            });
        }
        _ => Reference::with_tag(
            image.registry().to_owned(),
            image.repository().to_owned(),
            package.version.clone(),
        ),
    };
    let at = Target::new(&image);
    let client = client(registries)?;

    let mut descriptors = Vec::with_capacity(package.files.len());
    for file in &package.files {
        let digest = sha256(&file.data).to_string();
        push_blob(&client, &image, &at, file.data.clone(), &digest).await?;
        descriptors.push(OciDescriptor {
            media_type: file.media_type.clone(),
            digest,
            size: i64::try_from(file.data.len())
                .map_err(|_| OciError::Internal("sizing a layer".into()))?,
            urls: None,
            annotations: Some(file.annotations.clone()),
            artifact_type: None,
        });
    }
    push_blob(&client, &image, &at, EMPTY_DATA.to_vec(), EMPTY_DIGEST).await?;
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
        config: OciDescriptor {
            media_type: EMPTY_MEDIA_TYPE.to_owned(),
            digest: EMPTY_DIGEST.to_owned(),
            size: 2,
            urls: None,
            annotations: None,
            artifact_type: None,
        },
        layers: descriptors,
        subject: None,
        artifact_type: Some(ARTIFACT_TYPE.to_owned()),
        annotations: Some(BTreeMap::from([(
            VERSION_ANNOTATION.to_owned(),
            package.version.clone(),
        )])),
    };
    let body = serde_json::to_vec(&manifest)
        .map_err(|e| OciError::Internal(format!("serializing the manifest: {e}")))?;
    let digest = sha256(&body).to_string();
    let content_type = OCI_IMAGE_MEDIA_TYPE
        .parse()
        .map_err(|_| OciError::Internal("building the manifest content type".into()))?;
    client
        .push_manifest_raw(&image, body, content_type)
        .await
        .map_err(|e| at.error(e, "pushing the manifest of"))?;
    Ok(digest)
}

/// A package read from disk, ready to become layers.
struct Package {
    version: String,
    files: Vec<PackageFile>,
}

struct PackageFile {
    media_type: String,
    annotations: BTreeMap<String, String>,
    data: Vec<u8>,
}

/// Check the package and read every file in it (blocking).
fn read_package(dir: &Path) -> Result<Package, OciError> {
    let check = check_package(dir).map_err(|reason| OciError::InvalidPackage {
        dir: dir.to_path_buf(),
        errors: format!("- {}", reason.sentence()),
    })?;
    let Some(app) = check.description else {
        let mut errors = String::new();
        for issue in &check.report.errors {
            let _ = writeln!(errors, "- {issue}");
        }
        return Err(OciError::InvalidPackage {
            dir: dir.to_path_buf(),
            errors: errors.trim_end().to_owned(),
        });
    };
    let unpushable = |reason: String| OciError::Unpushable {
        dir: dir.to_path_buf(),
        reason,
    };
    let too_large = |reason: String| OciError::TooLarge {
        reference: dir.display().to_string(),
        reason,
    };
    // Catalog files by normalized path, first field wins.
    let mut resources: BTreeMap<String, &'static str> = BTreeMap::new();
    if let Some(catalog) = &app.metadata.catalog.application {
        for (field, rel) in catalog.files() {
            let title = safe_title(rel).map_err(|why| {
                unpushable(format!(
                    "catalog file `{rel}`: {}",
                    why.replace("its title", "the path")
                ))
            })?;
            resources.entry(title).or_insert(field);
        }
    }
    let paths = walk(dir).map_err(|e| match e {
        Walk::Io(path, source) => OciError::Read { path, source },
        Walk::Refused(reason) => unpushable(reason),
    })?;
    if paths.len() > MAX_LAYERS {
        return Err(too_large(format!(
            "{} files, more than {MAX_LAYERS}",
            paths.len()
        )));
    }
    let mut total = 0u64;
    let mut files = Vec::with_capacity(paths.len());
    for (title, executable) in paths {
        let path = dir.join(&title);
        let data = read_limited(&path)?;
        total = total.saturating_add(data.len() as u64);
        if total > MAX_PACKAGE_BYTES {
            let why = format!("the files add up to more than {MAX_PACKAGE_BYTES} bytes");
            return Err(too_large(why));
        }
        let mut annotations = BTreeMap::from([
            (TITLE_ANNOTATION.to_owned(), title.clone()),
            (
                MODE_ANNOTATION.to_owned(),
                if executable { "0755" } else { "0644" }.to_owned(),
            ),
        ]);
        let media_type = if title == DESCRIPTION_FILE {
            DESCRIPTION_MEDIA_TYPE.to_owned()
        } else if let Some(field) = resources.get(&title) {
            annotations.insert(RESOURCE_ANNOTATION.to_owned(), (*field).to_owned());
            format!("application/vnd.margo.app.{field}.v1+{}", format_of(&title))
        } else {
            FILE_MEDIA_TYPE.to_owned()
        };
        files.push(PackageFile {
            media_type,
            annotations,
            data,
        });
    }
    // Description first, then resources, then the rest (each sorted by path).
    files.sort_by_key(|f| {
        if f.media_type == DESCRIPTION_MEDIA_TYPE {
            0
        } else if f.annotations.contains_key(RESOURCE_ANNOTATION) {
            1
        } else {
            2
        }
    });
    Ok(Package {
        version: app.metadata.version,
        files,
    })
}

enum Walk {
    Io(PathBuf, io::Error),
    Refused(String),
}

/// Every regular file below `dir` as (relative path, executable), sorted.
/// Links and special files are refused.
fn walk(dir: &Path) -> Result<Vec<(String, bool)>, Walk> {
    let mut found = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| Walk::Io(folder.clone(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Walk::Io(folder.clone(), e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(Walk::Refused(format!(
                    "`{}` has a name that is not UTF-8; rename it",
                    entry.path().display()
                )));
            };
            let child = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            let meta = entry
                .path()
                .symlink_metadata()
                .map_err(|e| Walk::Io(entry.path(), e))?;
            if meta.is_dir() {
                stack.push((entry.path(), child));
            } else if meta.is_file() {
                if let Err(why) = safe_title(&child) {
                    return Err(Walk::Refused(format!(
                        "`{child}` cannot be a layer title: {}",
                        why.replace("its title", "the path")
                    )));
                }
                found.push((child, meta.permissions().mode() & 0o111 != 0));
            } else if meta.file_type().is_symlink() {
                return Err(Walk::Refused(format!(
                    "`{child}` is a symbolic link; replace it with the file it points to"
                )));
            } else {
                return Err(Walk::Refused(format!(
                    "`{child}` is not a regular file or folder; remove it"
                )));
            }
            if found.len() > MAX_LAYERS {
                return Err(Walk::Refused(format!(
                    "it holds more than {MAX_LAYERS} files, the most a package may have"
                )));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Read a file, refusing one larger than a layer may be.
fn read_limited(path: &Path) -> Result<Vec<u8>, OciError> {
    use std::io::Read as _;
    let read_err = |source| OciError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut data = Vec::new();
    file.take(MAX_LAYER_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(read_err)?;
    if data.len() as u64 > MAX_LAYER_BYTES {
        return Err(OciError::TooLarge {
            reference: path.display().to_string(),
            reason: format!("the file has more than {MAX_LAYER_BYTES} bytes"),
        });
    }
    Ok(data)
}

/// The `<fmt>` of a Margo resource media type, from the file extension.
fn format_of(path: &str) -> &'static str {
    let ext = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("md") => "markdown",
        Some("png") => "png",
        Some("pdf") => "pdf",
        Some("txt") => "plain",
        Some("svg") => "svg+xml",
        Some("jpg" | "jpeg") => "jpeg",
        _ => "octet-stream",
    }
}

async fn push_blob(
    client: &Client,
    image: &Reference,
    at: &Target,
    data: Vec<u8>,
    digest: &str,
) -> Result<(), OciError> {
    let exists = client
        .blob_exists(image, digest)
        .await
        .map_err(|e| at.error(e, "checking a blob of"))?;
    if !exists {
        client
            .push_blob(image, data, digest)
            .await
            .map_err(|e| at.error(e, "uploading a layer of"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_of("resources/icon.PNG"), "png");
        assert_eq!(format_of("a.svg"), "svg+xml");
        assert_eq!(format_of("LICENSE"), "octet-stream");
        assert_eq!(format_of("notes.txt"), "plain");
    }
}
