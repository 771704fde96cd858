//! `edgectl co …`: the central orchestrator's app store, sites and devices,
//! through the north API.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use edge_api::routes::{self, fill};
use edge_api::types::{
    AddAppRequest, AppDetail, Commit, CreateDevice, CreateSite, DeploymentSummary, Device,
    DeviceIdentity, EnrollRequest, Enrollment, Labels, RevokeRequest, Revoked, ServerStatus, Site,
    SourceKind,
};
use edge_api::{Client, ClientError};

use crate::cli::{AddCommand, CoCommand, IdentityArgs, LabelCommand, RemoveCommand, ShowWhat};
use crate::printer::Printer;

/// Run one `co` command against `client`.
pub(crate) fn co(
    command: CoCommand,
    client: &Client,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    match command {
        CoCommand::Status => status(client, printer)?,
        CoCommand::Add(AddCommand::App {
            artifact,
            name,
            reference,
        }) => add_app(client, printer, &artifact, name, reference)?,
        CoCommand::Add(AddCommand::Site { name, labels }) => {
            let site: Site = client.post(
                routes::SITES,
                &CreateSite {
                    name,
                    labels: parse_labels(&labels)?,
                },
            )?;
            printer.line(&format!("site `{}` added", site.name));
            printer.data(&site);
        }
        CoCommand::Add(AddCommand::Device { id, site, labels }) => {
            let d: Device = client.post(
                routes::DEVICES,
                &CreateDevice {
                    id,
                    site,
                    labels: parse_labels(&labels)?,
                },
            )?;
            printer.line(&format!("device `{}` added to site `{}`", d.id, d.site));
            printer.data(&d);
        }
        CoCommand::Add(AddCommand::Devices { site, from }) => {
            let devices = devices_from(&site, &from)?;
            let n = devices.len();
            let added: Vec<Device> = client.post(
                routes::DEVICES_BATCH,
                &edge_api::types::CreateDevices { devices },
            )?;
            printer.line(&format!(
                "{n} device(s) added to site `{site}` in one commit"
            ));
            printer.data(&added);
        }
        CoCommand::List(args) => super::list::list(client, printer, &args)?,
        CoCommand::Show(args) => match args.what {
            ShowWhat::App => show_app(client, printer, &args.id)?,
            ShowWhat::Deployment => super::detail::deployment(client, printer, &args.id)?,
            ShowWhat::Site => {
                let s: Site = client.get(&fill(routes::SITE, &args.id))?;
                printer.data(&s);
                printer.line(&format!(
                    "site:     {}\ndevices:  {}\nlabels:   {}\ncreated:  {}",
                    s.name,
                    s.devices,
                    labels_text(&s.labels),
                    s.created_at
                ));
            }
            ShowWhat::Device => {
                let d: Device = client.get(&fill(routes::DEVICE, &args.id))?;
                printer.data(&d);
                let identity = match &d.identity {
                    Some(i) => format!(
                        "{}\ncertificate:  {} (issued {}, valid until {})",
                        identity_text(Some(i)),
                        i.spiffe_id,
                        i.issued_at,
                        i.valid_until
                    ),
                    None => identity_text(None),
                };
                printer.line(&format!(
                    "device:       {}\nsite:         {}\nlabels:       {}\nidentity:     {identity}\nlast heard:   {}\ndeployments:  {}\ncapabilities: {}\ndeploy types: {}\nregistered:   {}",
                    d.id,
                    d.site,
                    labels_text(&d.labels),
                    d.last_heard.as_deref().unwrap_or("never"),
                    if d.deployments.is_empty() { "none".to_owned() } else { d.deployments.join(", ") },
                    if d.capabilities.is_some() { "reported" } else { "not reported yet" },
                    deployment_types(d.capabilities.as_ref()),
                    d.created_at
                ));
            }
        },
        CoCommand::Remove(RemoveCommand::App {
            id,
            version,
            force,
            yes,
        }) => {
            let what = version.as_ref().map_or_else(
                || format!("app `{id}` (every version)"),
                |v| format!("version `{v}` of app `{id}`"),
            );
            super::ask::confirm(yes, &format!("Remove {what} from the store?"))?;
            let mut path = fill(routes::APP, &id);
            let mut query = Vec::new();
            if let Some(v) = &version {
                query.push(format!("version={}", routes::encode(v)));
            }
            if force {
                query.push("force=true".to_owned());
            }
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            client.delete(&path)?;
            let what = version.map_or_else(
                || format!("app `{id}`"),
                |v| format!("app `{id}` version `{v}`"),
            );
            printer.line(&format!("{what} removed"));
            printer.data(&serde_json::json!({ "removed": id }));
        }
        CoCommand::Remove(RemoveCommand::Site { name, force, yes }) => {
            super::remove::site(client, printer, &name, force, yes)?;
        }
        CoCommand::Remove(RemoveCommand::Device { id, force, yes }) => {
            super::remove::device(client, printer, &id, force, yes)?;
        }
        CoCommand::Deploy(args) => super::deploy::deploy(client, printer, args)?,
        CoCommand::Set(args) => super::deploy::set(client, printer, args)?,
        CoCommand::Upgrade(args) => super::deploy::upgrade(client, printer, args)?,
        CoCommand::Apply {
            files,
            prune,
            dry_run,
            allow_unreported,
            rollout,
        } => super::apply::apply(
            client,
            printer,
            &files,
            prune,
            dry_run,
            rollout.policy(),
            allow_unreported,
        )?,
        CoCommand::Rollout(command) => super::rollout::rollout(client, printer, command)?,
        CoCommand::Ca(command) => super::ca::ca(client, printer, command)?,
        CoCommand::Diff {
            files,
            prune,
            allow_unreported,
        } => super::apply::diff(client, printer, &files, prune, allow_unreported)?,
        CoCommand::Undeploy(args) => super::undeploy::undeploy(client, printer, args)?,
        CoCommand::Enroll(args) => enroll(client, printer, &args)?,
        CoCommand::Export(args) => super::stick::export(client, printer, &args)?,
        CoCommand::Watch { site, since } => {
            super::watch::watch(client, printer, site.as_deref(), since)?;
        }
        CoCommand::ImportStatus { dir } => super::stick::import_status(client, printer, &dir)?,
        CoCommand::Token(command) => super::access::token(client, printer, command)?,
        CoCommand::Audit { limit, after } => super::access::audit(client, printer, limit, after)?,
        CoCommand::Revoke(args) => {
            let whose = args.device.as_ref().map_or_else(
                || format!("the LO of site `{}`", args.site),
                |d| format!("device `{d}`"),
            );
            super::ask::confirm(
                args.yes,
                &format!("Revoke the identities of {whose}? It is locked out at once"),
            )?;
            let r: Revoked = client.post(
                routes::REVOCATIONS,
                &RevokeRequest {
                    site: args.site.clone(),
                    device: args.device.clone(),
                },
            )?;
            let who = args.device.map_or_else(
                || format!("the LO of site `{}`", args.site),
                |d| format!("device `{d}`"),
            );
            printer.line(&format!(
                "revoked {} identity(ies) of {who}; their next request fails",
                r.revoked
            ));
            printer.data(&r);
        }
        CoCommand::Rollback {
            site,
            to,
            dry_run,
            yes,
        } => super::rollback::rollback(client, printer, &site, &to, dry_run, yes)?,
        CoCommand::Logs(args) => return super::remote::logs(client, printer, &args),
        CoCommand::Restart(args) => return super::remote::restart(client, printer, &args),
        CoCommand::History { site, limit } => {
            let commits: Vec<Commit> = client.get(&format!(
                "{}?limit={limit}",
                fill(routes::SITE_HISTORY, &site)
            ))?;
            printer.data(&commits);
            let rows = commits
                .iter()
                .map(|c| {
                    vec![
                        c.id[..c.id.len().min(12)].to_owned(),
                        c.time.clone(),
                        c.message.lines().next().unwrap_or_default().to_owned(),
                    ]
                })
                .collect::<Vec<_>>();
            printer.table(&["COMMIT", "TIME", "CHANGE"], &rows);
        }
        CoCommand::Label(LabelCommand::Site { name, labels }) => {
            let current: Site = client.get(&fill(routes::SITE, &name))?;
            let next = apply_labels(current.labels, &labels)?;
            let s: Site =
                client.put(&fill(routes::SITE_LABELS, &name), &Labels { labels: next })?;
            printer.line(&format!(
                "site `{}` labels: {}",
                s.name,
                labels_text(&s.labels)
            ));
            printer.data(&s);
        }
        CoCommand::Label(LabelCommand::Device { id, labels }) => {
            let current: Device = client.get(&fill(routes::DEVICE, &id))?;
            let next = apply_labels(current.labels, &labels)?;
            let d: Device =
                client.put(&fill(routes::DEVICE_LABELS, &id), &Labels { labels: next })?;
            printer.line(&format!(
                "device `{}` labels: {}",
                d.id,
                labels_text(&d.labels)
            ));
            printer.data(&d);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A device's identity in a few words: whether it may still talk to its
/// fleet manager.
pub(super) fn identity_text(identity: Option<&DeviceIdentity>) -> String {
    match identity {
        None => "not enrolled".to_owned(),
        Some(i) => match (i.state.as_str(), &i.revoked_at) {
            ("revoked", Some(at)) => format!("revoked at {at}"),
            ("expired", _) => format!("expired at {}", i.valid_until),
            (state, _) => format!("{state} until {}", i.valid_until),
        },
    }
}

/// The deployment types a device reported it runs.
fn deployment_types(capabilities: Option<&serde_json::Value>) -> String {
    let Some(caps) = capabilities else {
        return "not reported yet".to_owned();
    };
    // `custom` read as the edgectl types the report's extension names.
    let types = edge_model::artifact::deployment_types(caps);
    if types.is_empty() {
        "none".to_owned()
    } else {
        types.join(", ")
    }
}

fn status(client: &Client, printer: Printer) -> Result<(), ClientError> {
    let s: ServerStatus = client.get(routes::STATUS)?;
    printer.data(&s);
    printer.line(&format!(
        "server:       {} (edged {})\nhealth:       {}\nuptime:       {}s\napps:         {} ({} versions)\nsites:        {}\ndevices:      {}\ndeployments:  {}",
        client.server(),
        s.version,
        s.health,
        s.uptime_seconds,
        s.apps,
        s.app_versions,
        s.sites,
        s.devices,
        s.deployments
    ));
    Ok(())
}

fn show_app(client: &Client, printer: Printer, id: &str) -> Result<(), ClientError> {
    let a: AppDetail = client.get(&fill(routes::APP, id))?;
    printer.data(&a);
    if !printer.is_human() {
        return Ok(());
    }
    let d = &a.description;
    let meta = &d["metadata"];
    let mut out = vec![
        format!("id:          {}", a.id),
        format!("name:        {}", a.name),
        format!(
            "description: {}",
            meta["description"].as_str().unwrap_or("-")
        ),
        format!(
            "publisher:   {}",
            meta["catalog"]["organization"]
                .as_array()
                .map_or("-".into(), |o| o
                    .iter()
                    .filter_map(|x| x["name"].as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
        ),
        "profiles:".to_owned(),
    ];
    for p in d["deploymentProfiles"].as_array().into_iter().flatten() {
        let comps: Vec<String> = p["components"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{} ({} {})",
                    c["name"].as_str().unwrap_or("?"),
                    c["properties"]["repository"].as_str().unwrap_or("-"),
                    c["properties"]["revision"].as_str().unwrap_or("")
                )
            })
            .collect();
        out.push(format!(
            "  - {} {}: {}",
            p["type"].as_str().unwrap_or("?"),
            p["id"].as_str().unwrap_or(""),
            comps.join(", ")
        ));
    }
    out.push("parameters:".to_owned());
    let schema: BTreeMap<String, &serde_json::Value> = d["configuration"]["schema"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["name"].as_str()?.to_owned(), e)))
        .collect();
    let settings: BTreeMap<String, &serde_json::Value> = d["configuration"]["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["settings"].as_array().into_iter().flatten())
        .filter_map(|s| Some((s["parameter"].as_str()?.to_owned(), s)))
        .collect();
    for (name, p) in d["parameters"].as_object().into_iter().flatten() {
        let default = p
            .get("value")
            .map_or_else(|| "(no default)".to_owned(), ToString::to_string);
        let rule = settings
            .get(name)
            .and_then(|s| s["schema"].as_str())
            .and_then(|s| schema.get(s))
            .map(|e| {
                let mut parts = vec![e["dataType"].as_str().unwrap_or("?").to_owned()];
                for key in [
                    "minLength",
                    "maxLength",
                    "minValue",
                    "maxValue",
                    "regexMatch",
                ] {
                    if let Some(v) = e.get(key) {
                        parts.push(format!("{key} {v}"));
                    }
                }
                if e["allowEmpty"].as_bool() != Some(true) {
                    parts.push("required".into());
                }
                parts.join(", ")
            })
            .unwrap_or_else(|| "not configurable".into());
        out.push(format!("  - {name} = {default} [{rule}]"));
    }
    out.push("versions:".to_owned());
    for v in &a.versions {
        out.push(format!(
            "  - {}  added {}  from {}  commit {}",
            v.version,
            v.added_at,
            v.source,
            &v.commit[..v.commit.len().min(12)]
        ));
    }
    printer.line(&out.join("\n"));
    Ok(())
}

fn add_app(
    client: &Client,
    printer: Printer,
    artifact: &str,
    name: Option<String>,
    reference: Option<String>,
) -> anyhow::Result<()> {
    let path = Path::new(artifact);
    let detail: AppDetail = if path.is_dir() {
        if !path.join("margo.yaml").is_file() {
            bail!(
                "`{artifact}` has no `margo.yaml`: an application package is a folder with `margo.yaml` and `resources/`"
            );
        }
        let bytes = edge_workspace::archive::pack_dir(path)
            .with_context(|| format!("cannot pack `{artifact}`"))?;
        let folder = path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let upload = format!("{}?name={}", routes::APPS_UPLOAD, routes::encode(&folder));
        client.post_bytes(&upload, "application/gzip", bytes)?
    } else {
        let source = if artifact.starts_with("oci://") {
            SourceKind::Oci
        } else if artifact.starts_with("https://") || artifact.starts_with("http://") {
            SourceKind::Git
        } else if artifact.contains('/')
            && !path.exists()
            && artifact
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'))
        {
            SourceKind::Oci
        } else {
            bail!(
                "`{artifact}` is not a package folder, a Git URL (https://…) or an OCI reference (oci://registry/repo:tag)"
            );
        };
        if printer.is_human() {
            printer.warn_progress(&format!("fetching `{artifact}` on the server…"));
        }
        client.post(
            routes::APPS,
            &AddAppRequest {
                source,
                url: artifact.to_owned(),
                reference,
                name,
            },
        )?
    };
    let version = detail
        .versions
        .last()
        .map(|v| v.version.clone())
        .unwrap_or_default();
    printer.line(&format!(
        "added app `{}` (\"{}\") version {version}",
        detail.id, detail.name
    ));
    printer.data(&detail);
    Ok(())
}

pub(crate) fn enroll(client: &Client, printer: Printer, args: &IdentityArgs) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "`{}` exists and is not empty; choose a new folder",
            args.out.display()
        );
    }
    // The folder is made (private) before the identity exists, so a key is
    // never issued that cannot be written.
    let created = !args.out.exists();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create `{}`", args.out.display()))?;
    std::fs::set_permissions(&args.out, std::fs::Permissions::from_mode(0o700))?;
    let request = EnrollRequest {
        site: args.site.clone(),
        device: args.device.clone(),
        direct: args.direct,
        names: args.names.clone(),
    };
    let e: Enrollment = match client.post(routes::ENROLLMENTS, &request) {
        Ok(e) => e,
        Err(err) => {
            if created {
                let _ = std::fs::remove_dir(&args.out);
            }
            return Err(err.into());
        }
    };
    let role = if args.lo { "lo" } else { "en" };
    edge_api::mtls::write_credentials(&args.out, &e, &args.site, role)?;
    printer.warn(&format!(
        "`{}` holds a private key; move it to the machine over a protected channel",
        args.out.display()
    ));
    printer.line(&format!(
        "enrolled {} (valid until {}); credentials in `{}`",
        e.spiffe_id,
        e.not_after,
        args.out.display()
    ));
    // What a node needs to take its trust from the Trust Bundle API
    // instead of the copied ca.crt: the CO's discovery document, and the
    // CA's fingerprint to recognize the CO by on first contact.
    let pin = edge_api::trust::pin_of_first(&e.ca_bundle);
    let discovery = format!(
        "{}{}",
        client.server().trim_end_matches('/'),
        edge_api::trust::DISCOVERY_PATH
    );
    if let Some(pin) = &pin {
        printer.line(&format!(
            "trust bundle: {discovery} (pin {pin}; `edged --mode en --trust-bundle-uri {discovery} --trust-bundle-pin {pin}`)"
        ));
    }
    printer.data(&serde_json::json!({ "spiffeId": e.spiffe_id, "fingerprint": e.fingerprint, "notAfter": e.not_after, "out": args.out, "trustBundle": discovery, "caPin": pin }));
    Ok(())
}

/// Columns of every deployment table (see [`deployment_rows`]).
pub(super) const DEPLOYMENT_HEADER: [&str; 7] = [
    "DEPLOYMENT",
    "APP",
    "VERSION",
    "SITE",
    "DEVICE",
    "PROFILE",
    "STATE",
];

pub(super) fn deployment_rows(list: &[DeploymentSummary]) -> Vec<Vec<String>> {
    list.iter()
        .map(|d| {
            vec![
                d.id.clone(),
                d.app.clone(),
                d.version.clone(),
                d.site.clone(),
                d.device.clone(),
                d.profile.clone(),
                match (&d.state, &d.error) {
                    // Its last change has not reached the device yet: what
                    // it said is about the version before.
                    (Some(s), _) if d.stale => format!("updating (was {s})"),
                    (Some(s), Some(e)) => format!("{s}: {e}"),
                    (Some(s), None) => s.clone(),
                    // Desired, but its device has not said anything yet.
                    (None, _) => "-".to_owned(),
                },
            ]
        })
        .collect()
}

/// The devices listed in `file` (`-`: standard input) for `site`: an id per
/// line, then labels `key=value`; blank lines and `#` comments skipped.
fn devices_from(site: &str, file: &std::path::Path) -> anyhow::Result<Vec<CreateDevice>> {
    use anyhow::Context as _;
    let text = if file == std::path::Path::new("-") {
        use std::io::Read as _;
        std::io::read_to_string(std::io::stdin().lock().take(4 << 20))
            .context("cannot read the devices from standard input")?
    } else {
        let bytes = edge_workspace::read_bounded(file)
            .with_context(|| format!("cannot read `{}`", file.display()))?;
        String::from_utf8(bytes)
            .with_context(|| format!("`{}` is not UTF-8 text", file.display()))?
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let id = words.next().unwrap_or_default().to_owned();
        let labels: Vec<String> = words.map(str::to_owned).collect();
        // A bad line of a file is bad input (exit 1), not a usage error.
        let labels = parse_labels(&labels)
            .map_err(|e| anyhow::anyhow!("{}: line {}: {e}", file.display(), n + 1))?;
        out.push(CreateDevice {
            id,
            site: site.to_owned(),
            labels,
        });
    }
    anyhow::ensure!(!out.is_empty(), "`{}` lists no devices", file.display());
    Ok(out)
}

pub(super) fn parse_labels(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    parse_pairs(items, "a label; use key=value")
}

/// `KEY=VALUE` items as a map; a malformed one is "not `what`".
pub(super) fn parse_pairs(
    items: &[String],
    what: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => crate::usage!("`{i}` is not {what}"),
        })
        .collect()
}

fn apply_labels(
    mut labels: BTreeMap<String, String>,
    changes: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    for c in changes {
        if let Some(key) = c.strip_suffix('-').filter(|k| !k.contains('=')) {
            labels.remove(key);
        } else {
            let (k, v) = c
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| {
                    anyhow::Error::new(crate::Usage(format!(
                        "`{c}` is not a label change; use key=value or key-"
                    )))
                })?;
            labels.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok(labels)
}

pub(super) fn labels_text(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "-".to_owned();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
