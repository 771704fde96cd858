//! The Edge Node (`--mode en`): the Margo device client of one host. It
//! reports its capabilities (at start and whenever they change), long-polls
//! its fleet manager (the site's LO, or the CO for a node attached directly)
//! for the state manifest, verifies and keeps it, reconciles it through the
//! runtime drivers (`node`), reports every state change through a durable
//! outbox (`sync`), and serves node operations to `edgectl en` on a Unix
//! socket only its owner can use (`ops`). With every link down it keeps its
//! workloads running, and after a restart it brings them back from what it
//! kept.
//!
//! Data directory (`0700`; `0711` when native workloads run as other
//! accounts, which must pass through it to reach their folders):
//! `en.db` (`0600`, SQLite: desired, applied, outbox, the workloads'
//! processes and accounts), `accepted.json` (the accepted manifest version
//! and ETag), `artifacts/` (`0700`, content-addressed),
//! `workloads/<deployment>/<component>/` (each workload's control folder,
//! the daemon's: its log, its program's copy; `work/` in it is the one
//! folder the workload may write), `en.sock` (the operations socket).
//!
//! Native (`process`) workloads run as edged's own account when edged is
//! not root; when it is, each runs as an account of its own (a user and
//! group id from a reserved range, kept in `en.db`), or as the one
//! `--run-as` names — root only when `--run-as root` says so.

use crate::bell::spawn;

mod logs;
mod metrics;
mod node;
mod ops;
mod otlp;
mod remote;
mod state;
mod sync;
mod trust;
pub(crate) mod window;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use edge_api::mtls::Identity;
use edge_runtime::compose::ComposeDriver;
use edge_runtime::container::ContainerDriver;
use edge_runtime::driver::{Account, Driver, ProcessDriver};
use edge_runtime::podman::Podman;
use edge_runtime::process::RestartPolicy;
use edge_runtime::wasm::{DEFAULT_MEMORY, WasmDriver};

use crate::settings::Settings;

/// The device id and the fleet manager's SPIFFE ID of a device identity
/// (`spiffe://TD/margo/wfm/WFM/client/DEVICE`).
fn device_of(identity: &Identity) -> anyhow::Result<(String, String)> {
    let p = crate::south::Principal::parse(&identity.file.spiffe_id)
        .filter(|p| p.client.is_some())
        .with_context(|| {
            format!(
                "`{}` holds the credentials of a local orchestrator (`{}`), not of an edge node; enrol one with `edgectl co enroll --site SITE --device ID`",
                identity.dir.display(),
                identity.file.spiffe_id
            )
        })?;
    let device = p.client.unwrap_or_default();
    Ok((device, identity.wfm_id(&p.wfm)))
}

/// Run the EN until a termination signal.
pub(crate) async fn run(settings: Settings) -> anyhow::Result<()> {
    let creds = settings
        .credentials
        .clone()
        .context("an edge node needs `--credentials DIR`")?;
    let identity = match settings.trust_bundle.clone() {
        // reqwest's blocking client owns a runtime: made outside this one.
        Some(cfg) => {
            let (c, data) = (creds.clone(), settings.data.clone());
            let pem = tokio::task::spawn_blocking(move || trust::anchors(&cfg, &c, &data))
                .await
                .context("the trust bundle task failed")??;
            Identity::load_trusting(&creds, Some(&pem))?
        }
        None => {
            let identity = Identity::load(&creds)?;
            // A bundle taken from the fleet manager since enrolment (a CA
            // rotated) is newer than the credentials' ca.crt.
            if let Some(k) = crate::anchors::Kept::read_for(&settings.data, &identity.cert) {
                identity.roots.replace(crate::anchors::store_of(&k.bundle));
            }
            identity
        }
    };
    let (own_cert, roots) = (identity.cert.clone(), identity.roots.clone());
    let (device, wfm) = device_of(&identity)?;
    let direct = wfm.ends_with("/wfm/co");
    let server = match (&settings.server, direct) {
        (Some(s), _) => s.trim_end_matches('/').to_owned(),
        (None, true) => identity.file.server.trim_end_matches('/').to_owned(),
        (None, false) => anyhow::bail!(
            "this node belongs to the local orchestrator of site `{}`: give its address with `--server https://LO-HOST:PORT`",
            identity.file.site
        ),
    };
    let data = settings.data.clone();
    let account = account(settings.run_as.as_deref())?;
    let data_mode = match &account {
        Account::Daemon => crate::perms::DIR,
        Account::Named(u) if u.uid == edge_runtime::process::euid() => crate::perms::DIR,
        _ => crate::perms::PASS_THROUGH,
    };
    crate::perms::private_dir(&data, data_mode)
        .with_context(|| format!("cannot create the data directory `{}`", data.display()))?;
    let schedule = window::Schedule {
        poll_hours: settings
            .poll_hours
            .as_deref()
            .map(window::Window::parse)
            .transpose()?,
        downtime: settings
            .downtime
            .as_deref()
            .map(window::Window::parse)
            .transpose()?,
    };
    let accepted_file = data.join("accepted.json");
    let collector = match otlp::wanted(&settings.otlp_listen) {
        Some(listen) => Some(
            otlp::Collector::start(
                listen,
                &data,
                &device,
                &identity.file.site,
                settings.otlp_buffer_max_bytes,
            )
            .await?,
        ),
        None => None,
    };
    // reqwest's blocking clients own a runtime of their own: made (and
    // dropped) outside the async one.
    let (node, sync, short) = {
        let (data, accepted_file) = (data.clone(), accepted_file.clone());
        let (device, server) = (device.clone(), server.clone());
        let insecure_registries = settings.insecure_registries.clone();
        let collector = collector.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let short = identity.blocking_client(&wfm, Duration::from_secs(300))?;
            let long = identity.blocking_client(&wfm, Duration::from_secs(90))?;
            let wasm = WasmDriver::new(DEFAULT_MEMORY)?;
            // podman reads the daemon's CONTAINERS_CONF itself.
            let podman = Podman {
                conf: None,
                insecure: insecure_registries.clone(),
            };
            let db = Arc::new(state::Db::open(&data.join("en.db"))?);
            let drivers: Vec<Arc<dyn Driver>> = vec![
                Arc::new(wasm),
                Arc::new(ProcessDriver::new(account, db.clone())),
                Arc::new(ComposeDriver {
                    podman: podman.clone(),
                }),
                Arc::new(ContainerDriver { podman }),
            ];
            let cas = crate::cas::Cas::in_data(&data)?;
            for (folder, mode) in [(edge_cas::DIR, crate::perms::DIR), ("workloads", data_mode)] {
                crate::perms::private_dir(&data.join(folder), mode)
                    .with_context(|| format!("cannot make `{folder}` private"))?;
            }
            let mut node = node::Node::new(
                db,
                cas,
                device,
                server.clone(),
                drivers,
                short.clone(),
                data.join("workloads"),
                RestartPolicy {
                    interval: Duration::from_secs(1),
                    limit: 10,
                    stable_after: Duration::from_secs(60),
                },
                crate::cas::MAX_ARTIFACT,
            )?;
            if let Some(c) = collector {
                node.workload_env = Some(Arc::new(move |d: &str, comp: &str, kind| {
                    c.env_for(d, comp, kind)
                }));
            }
            node.registries = edge_workspace::oci::Registries {
                insecure: insecure_registries,
                ..edge_workspace::oci::Registries::default()
            };
            let accepted = edge_api::device::load(&accepted_file)
                .with_context(|| format!("cannot read `{}`", accepted_file.display()))?;
            let sync = edge_api::device::ManifestSync::new(&server, long, accepted);
            Ok((Arc::new(node), sync, short))
        })
        .await
        .context("the start-up task failed")??
    };
    let ops = ops::bind(&data.join("en.sock"))?;
    if let Some(addr) = &settings.metrics_listen {
        let (n, d) = (node.clone(), data.clone());
        let buffer = collector.as_ref().map(|c| c.buffer.clone());
        let bound = crate::prom::serve(
            addr,
            Arc::new(move || metrics::page(&n, &d, buffer.as_deref())),
        )
        .await?;
        tracing::info!(%bound, "metrics at http://{bound}/metrics");
    }
    // Capabilities first, then what was kept: workloads come back with no network.
    let labels = settings.labels.clone();
    spawn("en-main", {
        let (node, schedule) = (node.clone(), schedule.clone());
        let interval = Duration::from_secs(settings.poll_interval);
        move || {
            capabilities(&node, &data, &labels, true);
            match node.db.desired() {
                Ok(Some(set)) => node.reconcile(&set),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "cannot read the kept desired state"),
            }
            spawn("en-watch", {
                let node = node.clone();
                move || watch(&node, &data, &labels, interval)
            })
            .ok();
            sync::poller(&node, sync, &accepted_file, interval, &schedule);
        }
    })?;
    spawn("en-trust", {
        let (client, data) = (short.clone(), settings.data.clone());
        let url = format!("{server}{}", edge_api::trust::BUNDLE_PATH);
        move || crate::anchors::keep_current(&client, &url, &data, &own_cert, &roots, &|_| {})
    })?;
    let remote_client = edge_api::south::South::new(&server, short.clone());
    if let Some(c) = collector.clone() {
        if settings.host_metrics_interval > 0 {
            let (c, data) = (c.clone(), settings.data.clone());
            let every = Duration::from_secs(settings.host_metrics_interval);
            spawn("en-host-metrics", move || {
                otlp::host::run(&c, &data, every);
            })?;
        }
        let (client, server) = (short.clone(), server.clone());
        spawn("en-otlp", move || c.forward(&client, &server))?;
    }
    spawn("en-report", {
        let (node, schedule) = (node.clone(), schedule.clone());
        move || sync::reporter(&node, &short, &schedule)
    })?;
    let times = ops::log_times(&node);
    spawn("en-remote", {
        let (node, times, client) = (node.clone(), times.clone(), remote_client);
        move || remote::poller(&node, &times, &client)
    })?;
    let serving = tokio::spawn(ops::serve(ops, node.clone(), times));
    if !settings.ready.send(Vec::new()) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "edged en {device} polling {server}");
        let _ = out.flush();
    }
    tracing::info!(device, server, "edge node ready");
    // The operations socket drains once a stop is asked for.
    let _ = serving.await;
    crate::stop::requested().await;
    let n = node.clone();
    let _ = tokio::task::spawn_blocking(move || n.shutdown()).await;
    tracing::info!("stopped");
    Ok(())
}

/// The account native workloads run as: `--run-as` when given (root only
/// when named), else one per workload when edged is root, else edged's own.
fn account(run_as: Option<&str>) -> anyhow::Result<Account> {
    Ok(match run_as {
        Some(name) => Account::Named(edge_runtime::process::RunAs::lookup(name)?),
        None if edge_runtime::process::euid() == 0 => Account::PerWorkload,
        None => Account::Daemon,
    })
}

/// Queue a capabilities report (`always`, or when this host's differs from
/// the last one sent).
fn capabilities(
    node: &node::Node,
    data: &std::path::Path,
    labels: &std::collections::BTreeMap<String, String>,
    always: bool,
) {
    let mut host = edge_runtime::host::detect(data);
    host.otel_collector = node.workload_env.is_some();
    let doc = match host.capabilities(&node.device, &node.driver_names(), labels) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot describe this host");
            return;
        }
    };
    let Ok(body) = serde_json::to_vec(&doc) else {
        return;
    };
    let digest = edge_model::digest::sha256(&body).to_string();
    if !always && node.db.meta("capabilities").as_deref() == Some(digest.as_str()) {
        return;
    }
    match node
        .db
        .push("capabilities", &node.device, &body)
        .and_then(|()| node.db.set_meta("capabilities", &digest))
    {
        Ok(()) => {
            tracing::info!(digest, "capabilities queued");
            node.bell.ring();
        }
        Err(e) => tracing::error!(error = %e, "cannot queue the capabilities report"),
    }
}

/// Watch the workloads (twice a second) and the host (every poll interval,
/// at most every minute): a capabilities report that differs from the last
/// one sent goes out again (Margo: whenever they change).
fn watch(
    node: &Arc<node::Node>,
    data: &std::path::Path,
    labels: &std::collections::BTreeMap<String, String>,
    every: Duration,
) {
    let host_every = u32::try_from(every.as_millis() / 500)
        .unwrap_or(120)
        .clamp(1, 120);
    let mut ticks = 0_u32;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        node.observe();
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(host_every) {
            capabilities(node, data, labels, false);
        }
    }
}
