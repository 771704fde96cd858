//! Sites on USB sticks: `edgectl co export` writes one from the CO's API,
//! `edgectl lo import` takes one into an LO's data folder (the checks are
//! in `edge_workspace::stick`).

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use edge_api::Client;
use edge_api::routes;
use edge_api::types::SiteExport;
use edge_workspace::git::{self, LooseObject};
use edge_workspace::stick::{self, StickArtifact, StickManifest};

use crate::cli::{ExportArgs, IdentityArgs};
use crate::printer::Printer;

/// Largest tar of Git objects taken for one export.
const MAX_GIT_TAR: u64 = 1 << 30;
/// Largest single object in it.
const MAX_OBJECT: u64 = 256 << 20;
/// Largest artifact (the tiers' own bound).
const MAX_ARTIFACT: u64 = 512 << 20;

fn fill(pattern: &str, site: &str) -> String {
    pattern.replace("{site}", site)
}

/// The objects in a tar of `<kind>/<id>` entries.
fn objects_of(tar_bytes: &[u8]) -> anyhow::Result<Vec<LooseObject>> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive
        .entries()
        .context("the server's object list does not read")?
    {
        let mut entry = entry.context("the server's object list does not read")?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let Some((kind, id)) = name.split_once('/') else {
            bail!("the server sent `{name}`, which is not an object");
        };
        if entry.size() > MAX_OBJECT {
            bail!("object {id} is larger than {MAX_OBJECT} bytes");
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        out.push(LooseObject {
            id: id.to_owned(),
            kind: kind.to_owned(),
            data,
        });
    }
    Ok(out)
}

/// `edgectl co export`.
pub(crate) fn export(client: &Client, printer: Printer, args: &ExportArgs) -> anyhow::Result<()> {
    let to = &args.to;
    if to.exists() && !to.join(stick::MANIFEST).exists() && std::fs::read_dir(to)?.next().is_some()
    {
        bail!(
            "`{}` is neither empty nor a site stick; choose an empty folder",
            to.display()
        );
    }
    if let Ok(old) = stick::read_manifest(to)
        && old.site != args.site
    {
        bail!(
            "`{}` holds site `{}`; write site `{}` to another folder",
            to.display(),
            old.site,
            args.site
        );
    }
    std::fs::create_dir_all(to).with_context(|| format!("cannot create `{}`", to.display()))?;
    let plan: SiteExport = client.get(&fill(routes::SITE_EXPORT, &args.site))?;
    let Some(head) = plan.head.clone() else {
        bail!(
            "site `{}` has no desired state yet; deploy something to it first",
            args.site
        );
    };
    let git_dir = to.join(stick::SITE_GIT);
    let have = if git_dir.join("HEAD").is_file() {
        git::tip_of(&git_dir, stick::BRANCH_REF)?
    } else {
        None
    };
    let mut path = fill(routes::SITE_EXPORT_GIT, &args.site);
    if let Some(h) = &have {
        path.push_str(&format!("?have={h}"));
    }
    printer.warn_progress(&format!(
        "fetching the desired state of site `{}`",
        args.site
    ));
    let (headers, body) = client.get_bytes(&path, MAX_GIT_TAR)?;
    let sent_head = headers
        .get("x-edgectl-head")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if sent_head != head {
        bail!("the site changed while it was being exported; run the export again");
    }
    let objects = objects_of(&body)?;
    let carried = git::receive_objects(&git_dir, objects, stick::BRANCH_REF, &head)?;

    let artifacts: Vec<StickArtifact> = plan
        .artifacts
        .iter()
        .map(|a| StickArtifact {
            digest: a.digest.clone(),
            size: a.size,
            media_type: a.media_type.clone(),
            app: a.app.clone(),
            component: a.component.clone(),
        })
        .collect();
    let missing = stick::missing(to, &artifacts);
    let mut bytes_written = 0;
    for (i, a) in missing.iter().enumerate() {
        printer.warn_progress(&format!(
            "artifact {}/{} ({}/{}, {} bytes)",
            i + 1,
            missing.len(),
            a.app,
            a.component,
            a.size
        ));
        let blob_path = routes::SITE_EXPORT_BLOB
            .replace("{site}", &args.site)
            .replace("{digest}", &a.digest);
        let (_, bytes) = client.get_bytes(&blob_path, a.size.min(MAX_ARTIFACT))?;
        stick::put_blob(to, &a.digest, &bytes)?;
        bytes_written += bytes.len();
    }
    let creds = to.join(stick::CREDENTIALS);
    if args.with_credentials {
        if creds.join("identity.key").exists() {
            printer.warn(&format!(
                "`{}` already holds the LO's credentials; they were kept",
                creds.display()
            ));
        } else {
            super::co::enroll(
                client,
                printer,
                &IdentityArgs {
                    site: args.site.clone(),
                    lo: true,
                    device: None,
                    direct: false,
                    out: creds.clone(),
                },
            )?;
            printer.warn("the stick now holds a private key: keep it as safe as the LO itself");
        }
    }
    let manifest = StickManifest {
        format: stick::FORMAT,
        site: args.site.clone(),
        head: head.clone(),
        exported_at: plan.at.clone(),
        artifacts,
        credentials: creds.join("identity.key").exists(),
    };
    stick::finish(to, &manifest)?;
    printer.line(&format!(
        "site `{}` at {} written to `{}`: {} new Git objects, {} of {} artifacts new ({} bytes)",
        args.site,
        &head[..head.len().min(12)],
        to.display(),
        carried.objects,
        missing.len(),
        manifest.artifacts.len(),
        bytes_written
    ));
    printer.data(&serde_json::json!({
        "site": args.site,
        "head": head,
        "to": to,
        "newObjects": carried.objects,
        "artifacts": manifest.artifacts.len(),
        "newArtifacts": missing.len(),
        "credentials": manifest.credentials,
    }));
    Ok(())
}

/// `edgectl lo import`.
pub(crate) fn import(dir: &Path, data: &Path, printer: Printer) -> anyhow::Result<()> {
    let done = stick::import(dir, data, None)?;
    let m = &done.manifest;
    let moved = match &done.carried.before {
        Some(b) if *b == done.carried.head => "already up to date".to_owned(),
        Some(b) => format!(
            "moved from {} to {}",
            &b[..12.min(b.len())],
            &m.head[..12.min(m.head.len())]
        ),
        None => format!("now at {}", &m.head[..12.min(m.head.len())]),
    };
    printer.line(&format!(
        "site `{}` taken in from `{}` (exported {}): desired state {moved}, {} Git objects, {} of {} artifacts new",
        m.site,
        dir.display(),
        m.exported_at,
        done.carried.objects,
        done.new_artifacts,
        m.artifacts.len()
    ));
    printer.data(&serde_json::json!({
        "site": m.site,
        "head": m.head,
        "before": done.carried.before,
        "newObjects": done.carried.objects,
        "newArtifacts": done.new_artifacts,
    }));
    Ok(())
}
