//! The Local Orchestrator (`--mode lo`): one site's desired state, fetched
//! from the CO over Git (poll plus nudge) into a mirror, turned into one
//! Margo state manifest per device and served to the site's edge nodes over
//! mutual TLS; their status and capabilities go into a durable outbox that is
//! forwarded to the CO. It keeps serving from its mirror while the CO is
//! away, for as long as that takes. Remote operations (logs, restarts asked
//! at the CO) reach the nodes through it (`relay`).
//!
//! Data directory: `site.git` (bare mirror), `lo.db` (SQLite, WAL),
//! `artifacts/`. A site stick (`--import DIR`, or `edgectl lo import` while
//! it runs) moves the mirror forward with no network; the fetcher rebuilds
//! from the mirror whenever the CO cannot be reached, so it is served.

use crate::bell::spawn;

mod group;
mod metrics;
mod otlp;
mod outbox;
mod relay;
mod store;
mod sync;
mod upstream;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use edge_api::mtls::Identity;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::settings::Settings;
use crate::south::backend::Backend;

/// Run the LO until a termination signal.
pub(crate) async fn run(settings: Settings) -> anyhow::Result<()> {
    let creds = settings
        .credentials
        .clone()
        .context("a local orchestrator needs `--credentials DIR`")?;
    let identity = Identity::load(&creds)?;
    check_expiry(&identity)?;
    // The port before the data folder: one in use fails the start with
    // nothing written.
    let (listener, addr) = crate::http::listen(&settings.listen, None).await?;
    crate::perms::private_dir(&settings.data, crate::perms::DIR).with_context(|| {
        format!(
            "cannot make the data directory `{}` private",
            settings.data.display()
        )
    })?;
    crate::perms::private_file(&settings.data.join(edge_outbox::DB))
        .context("cannot make the database private")?;
    // The anchors: a trust bundle taken from the CO since enrolment (a CA
    // rotated), else the credentials' ca.crt. The site and CA(s) a stick
    // must match follow them, also for `edgectl lo import`.
    let ca_path = identity.dir.join("ca.crt");
    let kept = crate::anchors::Kept::read_for(&settings.data, &identity.cert);
    let ca_pem = match &kept {
        Some(k) => {
            identity.roots.replace(crate::anchors::store_of(&k.bundle));
            k.bundle.to_pem()
        }
        None => std::fs::read_to_string(&ca_path)
            .with_context(|| format!("cannot read `{}`", ca_path.display()))?,
    };
    let anchor = edge_workspace::stick::Anchor {
        site: identity.file.site.clone(),
        ca: ca_pem,
    };
    let anchors = CertificateDer::pem_slice_iter(anchor.ca.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("`{}` does not read", ca_path.display()))?;
    let mut chain = vec![identity.cert.clone()];
    chain.extend(anchors.iter().cloned());
    let tls = crate::south::server_config(identity.roots.clone(), chain, identity.key.clone_key())?;
    let trust_domain = identity.trust_domain().to_owned();
    let published = match &kept {
        Some(k) => crate::http::trust::Published::from_bundle(&trust_domain, k.bytes.clone()),
        None => crate::http::trust::Published::new(
            &trust_domain,
            &anchors,
            1,
            edge_api::trust::REFRESH_HINT,
        )?,
    };
    let published = Arc::new(std::sync::RwLock::new(Arc::new(published)));
    std::fs::create_dir_all(&settings.data).with_context(|| {
        format!(
            "cannot create the data directory `{}`",
            settings.data.display()
        )
    })?;
    edge_workspace::stick::trust::write_anchor(&settings.data, &anchor)?;
    if let Some(stick) = &settings.import {
        let (stick, data) = (stick.clone(), settings.data.clone());
        let done = tokio::task::spawn_blocking(move || {
            edge_workspace::stick::import(&stick, &data, &anchor)
        })
        .await
        .context("the import task failed")?
        .context("the stick was not taken in")?;
        tracing::info!(
            site = done.manifest.site,
            head = done.manifest.head,
            objects = done.carried.objects,
            artifacts = done.new_artifacts,
            references = done.references,
            "site stick taken in"
        );
    }
    let registry = registry_host(settings.registry_host.clone(), &identity, addr);
    match &registry {
        Some(host) => tracing::info!(host, "package-local artifacts are served as oci://{host}/…"),
        None => tracing::warn!(
            "no registry host: the LO listens on a wildcard address and its certificate names no host; package-local artifacts are served as the CO wrote them (set --registry-host)"
        ),
    }
    let (data, limit) = (settings.data.clone(), settings.outbox_limit);
    let pull = store::PullThrough {
        insecure: settings.insecure_registries.clone(),
        max_bytes: settings.pull_cache_max_bytes,
    };
    let lo = crate::http::start_blocking(move || {
        store::Lo::open(&data, identity, limit, pull, registry)
    })
    .await?;
    let lo = Arc::new(lo);
    if lo.trust().issued.is_none() {
        // A first start: the identities the CO issued, before any device asks.
        let first = lo.clone();
        tokio::task::spawn_blocking(move || sync::first_trust(&first))
            .await
            .context("the first trust task failed")?;
    }
    let (nudge, nudges) = std::sync::mpsc::channel();
    let poll = Duration::from_secs(settings.poll_interval);
    spawn("lo-fetch", {
        let lo = lo.clone();
        move || sync::fetcher(lo, nudges, poll)
    })?;
    spawn("lo-watch", {
        let lo = lo.clone();
        move || sync::watcher(lo, nudge)
    })?;
    spawn("lo-trust", {
        let (lo, published, data) = (lo.clone(), published.clone(), settings.data.clone());
        move || trust(&lo, &published, &data)
    })?;
    spawn("lo-outbox", {
        let lo = lo.clone();
        move || outbox::forward(lo)
    })?;
    if let Some(addr) = &settings.metrics_listen {
        let (lo, data) = (lo.clone(), settings.data.clone());
        let bound = crate::prom::serve(addr, Arc::new(move || metrics::page(&lo, &data))).await?;
        tracing::info!(%bound, "metrics at http://{bound}/metrics");
    }
    // A blocking client is made (and may be dropped) off the runtime only.
    let relay = {
        let lo = lo.clone();
        tokio::task::spawn_blocking(move || relay::Relay::new(lo))
            .await
            .context("the relay task failed")??
    };
    spawn("lo-ops", {
        let relay = relay.clone();
        move || relay::forward(relay)
    })?;
    spawn("lo-ops-expire", {
        let relay = relay.clone();
        move || relay::expire(relay)
    })?;
    let backend: Arc<dyn Backend> = lo.clone();
    let exporter = settings
        .otlp_export
        .as_deref()
        .map(otlp::Exporter::start)
        .transpose()?;
    let serving = tokio::spawn(crate::south::serve(listener, tls, move |caller| {
        crate::south::margo::router(backend.clone(), caller.clone())
            .merge(relay::router(relay.clone(), caller.clone()))
            .merge(otlp::router(backend.clone(), exporter.clone(), caller))
            .merge(crate::http::trust::router({
                let p = published.clone();
                Arc::new(move || {
                    p.read()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone()
                })
            }))
    }));
    if !settings.ready.send(vec![addr]) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "edged lo listening on https://{addr} (site {})",
            lo.site
        );
        let _ = out.flush();
    }
    tracing::info!(site = lo.site, %addr, server = lo.identity.file.server, "local orchestrator ready");
    // Serving ends once a stop is asked for: long polls are answered at
    // once, reports in flight finish.
    let _ = serving.await;
    tracing::info!("stopped");
    Ok(())
}

/// The registry host served deployments name: `configured`, else the first
/// host name or address in the LO's certificate (what `edgectl co enroll
/// --lo --name` put there, so a standard client verifies the LO under it)
/// with the port the LO listens on, else the address it listens on unless
/// that is a wildcard (no one dials `0.0.0.0`); `None` when nothing fits.
fn registry_host(
    configured: Option<String>,
    identity: &Identity,
    listening: std::net::SocketAddr,
) -> Option<String> {
    if configured.is_some() {
        return configured;
    }
    if let Some(name) = edge_api::mtls::host_names(&identity.cert)
        .into_iter()
        .next()
    {
        return Some(format!("{name}:{}", listening.port()));
    }
    (!listening.ip().is_unspecified()).then(|| listening.to_string())
}

/// Keep the CO's trust bundle current: a new one is in force for the
/// listener and every client at once, served to this site's nodes as the
/// CO's very bytes, and the anchor of sticks.
fn trust(
    lo: &store::Lo,
    published: &std::sync::RwLock<Arc<crate::http::trust::Published>>,
    data: &std::path::Path,
) {
    let client = match lo
        .identity
        .blocking_client(&lo.identity.wfm_id("co"), Duration::from_secs(30))
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot keep the trust bundle current");
            return;
        }
    };
    let url = format!(
        "{}{}",
        lo.identity.file.server.trim_end_matches('/'),
        edge_api::trust::BUNDLE_PATH
    );
    let td = lo.identity.trust_domain().to_owned();
    crate::anchors::keep_current(
        &client,
        &url,
        data,
        &lo.identity.cert,
        &lo.identity.roots,
        &|k| {
            *published
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(
                crate::http::trust::Published::from_bundle(&td, k.bytes.clone()),
            );
            let anchor = edge_workspace::stick::Anchor {
                site: lo.site.clone(),
                ca: k.bundle.to_pem(),
            };
            if let Err(e) = edge_workspace::stick::trust::write_anchor(data, &anchor) {
                tracing::error!(error = %e, "cannot record the new anchors for sticks");
            }
        },
    );
}

/// Refuse an expired identity (edge nodes would refuse the LO anyway) and
/// warn when it expires within two weeks, while there is time to enrol again.
fn check_expiry(identity: &Identity) -> anyhow::Result<()> {
    let Some(not_after) = edge_api::mtls::not_after(&identity.cert) else {
        anyhow::bail!(
            "the certificate in `{}` has no readable expiry",
            identity.dir.display()
        );
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let again = format!(
        "enrol it again with `edgectl co enroll --site {} --lo --out DIR`",
        identity.file.site
    );
    anyhow::ensure!(
        not_after > now,
        "the identity in `{}` expired at {}; {again}",
        identity.dir.display(),
        crate::clock::format_unix(not_after)
    );
    if not_after - now < 14 * 86_400 {
        tracing::warn!(
            expires = crate::clock::format_unix(not_after),
            "this LO's identity expires within two weeks; {again}"
        );
    }
    Ok(())
}
