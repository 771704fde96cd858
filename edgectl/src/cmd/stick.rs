//! Sites on USB sticks: `edgectl co export` writes one from the CO's API
//! (signed by the CO), `edgectl lo import` takes one into an LO's data
//! folder after checking it against the LO's site and CA (the checks are
//! in `edge_workspace::stick`); `edgectl lo export-status` writes what the
//! LO's outbox holds onto it (`status/<epoch>.json`), and `edgectl co
//! import-status` hands that to the CO, which takes each report once.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use edge_api::Client;
use edge_api::routes;
use edge_api::types::{IntakeAck, IntakeBatch, IntakeEntry, SiteExport};
use edge_model::artifact::MAX_ARTIFACT;
use edge_workspace::archive::{Kind, Limits, TarReader};
use edge_workspace::git::{self, LooseObject};
use edge_workspace::stick::{self, StickArtifact, StickManifest};

use crate::cli::{ExportArgs, IdentityArgs};
use crate::printer::{Printer, count};

/// Largest tar of Git objects taken for one export.
const MAX_GIT_TAR: u64 = 1 << 30;
/// Largest single object in it.
const MAX_OBJECT: u64 = 256 << 20;
/// Longest the CO may take to plan an export (it pulls registry content meanwhile).
const PLAN_WITHIN: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

fn fill(pattern: &str, site: &str) -> String {
    pattern.replace("{site}", site)
}

/// Most objects in one export's tar.
const MAX_OBJECTS: usize = 1_000_000;

/// The objects in a tar of `<kind>/<id>` entries, read with the bounded
/// reader (capped headers and content).
fn objects_of(tar_bytes: &[u8]) -> anyhow::Result<Vec<LooseObject>> {
    let mut out = Vec::new();
    let mut tar = TarReader::new(tar_bytes, Limits::of(MAX_GIT_TAR, MAX_OBJECTS));
    while let Some(entry) = tar
        .next_entry()
        .context("the server's object list does not read")?
    {
        let name = entry.path.to_string_lossy().into_owned();
        let Some((kind, id)) = name.split_once('/') else {
            bail!("the server sent `{name}`, which is not an object");
        };
        if entry.kind != Kind::File {
            bail!("the server sent `{name}`, which is not an object");
        }
        if entry.size > MAX_OBJECT {
            bail!("object {id} is larger than {MAX_OBJECT} bytes");
        }
        let mut data = Vec::new();
        tar.read_to_end(&mut data)
            .context("the server's object list does not read")?;
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
    let mut plan_path = fill(routes::SITE_EXPORT, &args.site);
    if args.skip_images {
        plan_path.push_str("?skipImages=true");
    }
    // The CO pulls the site's registry modules, binaries and images while
    // it answers, so this call gets hours, not the client's usual 600 s.
    printer.warn_progress(&format!(
        "the CO gathers what site `{}` needs (pulling registry modules, binaries and images)",
        args.site
    ));
    let plan: SiteExport = client.get_within(&plan_path, PLAN_WITHIN)?;
    let Some(head) = plan.head.clone() else {
        bail!(
            "site `{}` has no desired state yet; deploy something to it first",
            args.site
        );
    };
    for r in &plan.in_registries {
        printer.warn(&format!(
            "{r} comes from a registry and is not on the stick (charts, compose components from a registry, and images left out with --skip-images are not carried): the site needs that registry or a mirror of it"
        ));
    }
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
            reference: a.reference.clone(),
        })
        .collect();
    // Checked before anything is written, as the LO will check it.
    stick::references(&artifacts)
        .map_err(|e| anyhow::anyhow!("the CO's export plan is not usable: {e}"))?;
    let pulled = artifacts.iter().filter(|a| a.reference.is_some()).count();
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
                    names: Vec::new(),
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
        revoked: plan.revoked.clone(),
        issued: plan.issued.clone(),
        signature: plan.signature.clone(),
    };
    if manifest.signature.is_empty() {
        bail!("the CO did not sign the export (an older CO?); the stick was not finished");
    }
    stick::finish(to, &manifest)?;
    printer.line(&format!(
        "site `{}` at {} written to `{}`: {}, {} of {} artifacts new ({} bytes){}",
        args.site,
        &head[..head.len().min(12)],
        to.display(),
        count(carried.objects as u64, "new Git object", "new Git objects"),
        missing.len(),
        manifest.artifacts.len(),
        bytes_written,
        if pulled > 0 {
            format!(", {pulled} of them pulled from registries")
        } else {
            String::new()
        }
    ));
    printer.data(&serde_json::json!({
        "site": args.site,
        "head": head,
        "to": to,
        "newObjects": carried.objects,
        "artifacts": manifest.artifacts.len(),
        "newArtifacts": missing.len(),
        "fromRegistries": pulled,
        "credentials": manifest.credentials,
    }));
    Ok(())
}

/// The site and CA an LO trusts: from its credentials folder when given,
/// else as the LO recorded them in its data folder when it started.
fn anchor(data: &Path, credentials: Option<&Path>) -> anyhow::Result<stick::Anchor> {
    if let Some(dir) = credentials {
        let identity = edge_api::mtls::Identity::load(dir)?;
        let ca_path = dir.join("ca.crt");
        let ca = std::fs::read_to_string(&ca_path)
            .with_context(|| format!("cannot read `{}`", ca_path.display()))?;
        return Ok(stick::Anchor {
            site: identity.file.site,
            ca,
        });
    }
    stick::trust::read_anchor(data)?.with_context(|| {
        format!(
            "`{}` does not name the LO's site and CA yet (the LO records them when it starts); give the LO's credentials with `--credentials DIR`",
            data.display()
        )
    })
}

/// `edgectl lo import`.
pub(crate) fn import(
    dir: &Path,
    data: &Path,
    credentials: Option<&Path>,
    printer: Printer,
) -> anyhow::Result<()> {
    let anchor = anchor(data, credentials)?;
    let done = stick::import(dir, data, &anchor)?;
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
        "site `{}` taken in from `{}` (exported {}): desired state {moved}, {} Git objects, {} of {} artifacts new, {} registry references held",
        m.site,
        dir.display(),
        m.exported_at,
        done.carried.objects,
        done.new_artifacts,
        m.artifacts.len(),
        done.references
    ));
    printer.data(&serde_json::json!({
        "site": m.site,
        "head": m.head,
        "before": done.carried.before,
        "newObjects": done.carried.objects,
        "newArtifacts": done.new_artifacts,
        "references": done.references,
    }));
    Ok(())
}

/// The status a stick carries back: one LO outbox's unacknowledged entries.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StatusFile {
    /// The site.
    site: String,
    /// The entries, as the LO would forward them.
    batch: IntakeBatch,
}

/// Folder of a stick holding status files.
const STATUS_DIR: &str = "status";
/// Most bytes of entries sent to the CO in one request.
const STATUS_CHUNK: usize = 8 << 20;
/// Largest status file read.
const MAX_STATUS_FILE: u64 = 512 << 20;

/// `edgectl lo export-status`.
pub(crate) fn export_status(data: &Path, to: &Path, printer: Printer) -> anyhow::Result<()> {
    let edge_outbox::Waiting {
        site,
        epoch,
        entries,
    } = edge_outbox::read_waiting(data)?;
    let count = entries.len();
    let file = StatusFile {
        site: site.clone(),
        batch: IntakeBatch {
            epoch: epoch.clone(),
            entries,
        },
    };
    let dir = to.join(STATUS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let path = dir.join(format!("{epoch}.json"));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&file)?)
        .with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write `{}`", path.display()))?;
    printer.line(&format!(
        "{count} reports of site `{site}` written to `{}`; take them in at the CO with `edgectl co import-status {}`",
        path.display(),
        to.display()
    ));
    printer.data(&serde_json::json!({ "site": site, "reports": count, "file": path }));
    Ok(())
}

/// `edgectl co import-status`.
pub(crate) fn import_status(client: &Client, printer: Printer, dir: &Path) -> anyhow::Result<()> {
    let folder = dir.join(STATUS_DIR);
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .with_context(|| format!("`{}` holds no status (`{STATUS_DIR}/`); write it at the site with `edgectl lo export-status`", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut total = 0;
    let mut summary = Vec::new();
    for path in files {
        let len = std::fs::metadata(&path)?.len();
        if len > MAX_STATUS_FILE {
            bail!(
                "`{}` is larger than {MAX_STATUS_FILE} bytes",
                path.display()
            );
        }
        let file: StatusFile = serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("`{}` is not a status file", path.display()))?;
        let route = routes::SITE_INTAKE.replace("{site}", &file.site);
        let mut acked = 0;
        let mut chunk: Vec<IntakeEntry> = Vec::new();
        let mut bytes = 0;
        let entries = file.batch.entries.len();
        let send = |chunk: Vec<IntakeEntry>| -> anyhow::Result<i64> {
            let ack: IntakeAck = client.post(
                &route,
                &IntakeBatch {
                    epoch: file.batch.epoch.clone(),
                    entries: chunk,
                },
            )?;
            Ok(ack.acked)
        };
        for e in file.batch.entries.iter().cloned() {
            bytes += e.body.len();
            chunk.push(e);
            if bytes >= STATUS_CHUNK {
                acked = send(std::mem::take(&mut chunk))?;
                bytes = 0;
            }
        }
        if !chunk.is_empty() {
            acked = send(chunk)?;
        }
        total += entries;
        summary.push(serde_json::json!({ "site": file.site, "epoch": file.batch.epoch, "reports": entries, "acked": acked }));
        printer.line(&format!(
            "site `{}`: {} handed to the CO (it holds everything up to report {acked} of this LO)",
            file.site,
            count(entries as u64, "report", "reports")
        ));
    }
    if summary.is_empty() {
        bail!("`{}` holds no status files", folder.display());
    }
    printer.data(&serde_json::json!({ "reports": total, "files": summary }));
    Ok(())
}
