//! `--mode all`: a central orchestrator, a Local Orchestrator and an Edge Node
//! in one process on loopback, set up as a demo on first start.
//!
//! The data directory holds one folder per part (`co/`, `lo/`, `en/`), the
//! credentials the CO issued to the LO and to this host (`lo-credentials/`,
//! `en-credentials/`) and the fixture packages (`packages/`), so a newcomer
//! can read what an application package is. On first start the CO gets a
//! site `demo`, this host as its one device, and the fixture apps
//! `hello-process` and `hello-compose` in its store; `hello-wasm` is left in
//! `packages/` for the newcomer to add. Everything goes through the CO's own
//! north API, as `edgectl` would do it. A second start on the same folder
//! reuses all of it: only the CO's south address (a free port each time) is
//! written again into the LO's credentials.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use edge_api::Client;
use edge_api::routes;
use edge_api::types::{AppSummary, CreateDevice, CreateSite, EnrollRequest, Enrollment, Site};

use crate::cli::Mode;
use crate::settings::{Ready, Settings};

/// The demo site.
pub(crate) const SITE: &str = "demo";

/// A package's files: path in the package, bytes.
type Files = &'static [(&'static str, &'static [u8])];

/// The fixture packages built into `edged`, file by file.
const PACKAGES: &[(&str, Files)] = &[
    (
        "hello-wasm",
        &[
            (
                "margo.yaml",
                include_bytes!("../../fixtures/packages/hello-wasm/margo.yaml"),
            ),
            (
                "components/hello.wat",
                include_bytes!("../../fixtures/packages/hello-wasm/components/hello.wat"),
            ),
            (
                "resources/description.md",
                include_bytes!("../../fixtures/packages/hello-wasm/resources/description.md"),
            ),
            (
                "resources/icon.png",
                include_bytes!("../../fixtures/packages/hello-wasm/resources/icon.png"),
            ),
        ],
    ),
    (
        "hello-process",
        &[
            (
                "margo.yaml",
                include_bytes!("../../fixtures/packages/hello-process/margo.yaml"),
            ),
            (
                "components/hello.sh",
                include_bytes!("../../fixtures/packages/hello-process/components/hello.sh"),
            ),
            (
                "resources/description.md",
                include_bytes!("../../fixtures/packages/hello-process/resources/description.md"),
            ),
            (
                "resources/icon.png",
                include_bytes!("../../fixtures/packages/hello-process/resources/icon.png"),
            ),
        ],
    ),
    (
        "hello-compose",
        &[
            (
                "margo.yaml",
                include_bytes!("../../fixtures/packages/hello-compose/margo.yaml"),
            ),
            (
                "components/hello/compose.yaml",
                include_bytes!(
                    "../../fixtures/packages/hello-compose/components/hello/compose.yaml"
                ),
            ),
            (
                "resources/description.md",
                include_bytes!("../../fixtures/packages/hello-compose/resources/description.md"),
            ),
            (
                "resources/icon.png",
                include_bytes!("../../fixtures/packages/hello-compose/resources/icon.png"),
            ),
        ],
    ),
];

/// The packages put in the store on first start.
const PRELOADED: &[&str] = &["hello-process", "hello-compose"];

/// Run the three parts until a termination signal. Each part's folder is
/// locked first, as its own mode would (`DATA` itself is locked by
/// `crate::run`), so no `edged --mode co --data DATA/co` runs beside it.
pub(crate) async fn run(settings: Settings) -> anyhow::Result<()> {
    let mut locks = Vec::new();
    for part in ["co", "lo", "en"] {
        match crate::lock::DataLock::take(&settings.data.join(part)) {
            Ok(l) => locks.push(l),
            Err(e) => {
                locks.into_iter().for_each(crate::lock::DataLock::abandon);
                return Err(e);
            }
        }
    }
    let ran = demo(settings).await;
    if ran.is_err() {
        // A demo that could not start leaves no empty folder of its own.
        locks.into_iter().for_each(crate::lock::DataLock::abandon);
    }
    ran
}

async fn demo(settings: Settings) -> anyhow::Result<()> {
    let data = settings.data.clone();

    let (ready, addrs) = Ready::channel();
    let co_settings = Settings {
        mode: Mode::Co,
        data: data.join("co"),
        // Only the north API is for people; the rest stays on loopback.
        south_listen: "127.0.0.1:0".to_owned(),
        ready,
        ..settings.clone()
    };
    let co = tokio::spawn(crate::co::run(co_settings));
    // A part that fails to start drops its hand-off: its own error says why.
    let (north, south) = match addrs.await.ok().as_deref() {
        Some([north, south]) => (*north, *south),
        _ => return Err(failed("central orchestrator", co.await)),
    };

    let device = device_name();
    let setup = {
        let (data, device) = (data.clone(), device.clone());
        tokio::task::spawn_blocking(move || provision(&data, north, south, &device))
            .await
            .context("the set-up task failed")?
    };
    if let Err(e) = setup {
        co.abort();
        return Err(e.context("cannot set up the demo"));
    }

    let (ready, addrs) = Ready::channel();
    let lo_settings = Settings {
        mode: Mode::Lo,
        data: data.join("lo"),
        listen: "127.0.0.1:0".to_owned(),
        credentials: Some(data.join("lo-credentials")),
        ready,
        ..settings.clone()
    };
    let lo = tokio::spawn(crate::lo::run(lo_settings));
    let lo_addr = match addrs.await.ok().as_deref() {
        Some([addr]) => *addr,
        _ => {
            co.abort();
            return Err(failed("local orchestrator", lo.await));
        }
    };

    let (ready, started) = Ready::channel();
    let en_settings = Settings {
        mode: Mode::En,
        data: data.join("en"),
        credentials: Some(data.join("en-credentials")),
        server: Some(format!("https://{lo_addr}")),
        ready,
        ..settings.clone()
    };
    let en = tokio::spawn(crate::en::run(en_settings));
    if started.await.is_err() {
        co.abort();
        lo.abort();
        return Err(failed("edge node", en.await));
    }

    // Ready once the CO knows what this host runs: a deploy places only on
    // devices that reported their capabilities.
    let reported = {
        let (data, device) = (data.clone(), device.clone());
        tokio::task::spawn_blocking(move || capabilities_reported(&data, north, &device))
            .await
            .context("the start-up task failed")?
    };
    if let Err(e) = reported {
        tracing::warn!(error = %format!("{e:#}"), "the demo's node has not reported its capabilities to the CO yet; a deploy is refused until it has");
    }
    announce(&data, north, &device);
    tracing::info!(%north, %south, lo = %lo_addr, device, "demo ready");
    // Each part stops on the termination signal by itself. One that fails
    // on its own ends the demo: the others are stopped and its reason is
    // the demo's.
    let stops = [co.abort_handle(), lo.abort_handle(), en.abort_handle()];
    let mut parts = tokio::task::JoinSet::new();
    for (name, task) in [
        ("central orchestrator", co),
        ("local orchestrator", lo),
        ("edge node", en),
    ] {
        parts.spawn(async move { (name, flatten(name, task.await)) });
    }
    let mut first_error = None;
    while let Some(joined) = parts.join_next().await {
        let Ok((name, Err(e))) = joined else {
            continue;
        };
        if first_error.is_none() {
            tracing::error!(part = name, error = %format!("{e:#}"), "stopped with an error; stopping the demo");
            first_error = Some(e);
            stops.iter().for_each(tokio::task::AbortHandle::abort);
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn flatten(
    name: &str,
    ended: Result<anyhow::Result<()>, tokio::task::JoinError>,
) -> anyhow::Result<()> {
    match ended {
        Ok(r) => r.with_context(|| format!("the {name} stopped")),
        Err(e) => Err(anyhow::anyhow!("the {name} task failed: {e}")),
    }
}

fn failed(name: &str, ended: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Error {
    match flatten(name, ended) {
        Err(e) => e,
        Ok(()) => anyhow::anyhow!("the {name} stopped before it was ready"),
    }
}

/// This host's name as a device id: lower-case letters, digits and `-`.
fn device_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = raw
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-');
    if name.is_empty() || name.len() > 63 {
        "this-host".to_owned()
    } else {
        name.to_owned()
    }
}

/// Create what is missing: the packages folder, the site, the device, both
/// identities and the preloaded apps.
fn provision(
    data: &Path,
    north: SocketAddr,
    south: SocketAddr,
    device: &str,
) -> anyhow::Result<()> {
    let packages = data.join("packages");
    for (name, files) in PACKAGES {
        for (rel, bytes) in *files {
            let path = packages.join(name).join(rel);
            if path.exists() {
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create `{}`", parent.display()))?;
            }
            std::fs::write(&path, bytes)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            if rel.ends_with(".sh") {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            }
        }
    }

    let client = north_client(data, north)?;
    let sites: Vec<Site> = client.get(routes::SITES)?;
    if !sites.iter().any(|s| s.name == SITE) {
        let site = CreateSite {
            name: SITE.to_owned(),
            labels: [("purpose".to_owned(), "demo".to_owned())].into(),
        };
        let _: Site = client.post(routes::SITES, &site)?;
    }
    let devices: Vec<edge_api::types::Device> =
        client.get(&format!("{}?site={SITE}", routes::DEVICES))?;
    if !devices.iter().any(|d| d.id == device) {
        let request = CreateDevice {
            id: device.to_owned(),
            site: SITE.to_owned(),
            labels: std::collections::BTreeMap::new(),
        };
        let _: edge_api::types::Device = client.post(routes::DEVICES, &request)?;
    }
    enroll(&client, &data.join("lo-credentials"), None)?;
    enroll(&client, &data.join("en-credentials"), Some(device))?;
    // The CO's south port is a new one on every start.
    point_at(&data.join("lo-credentials"), &format!("https://{south}"))?;

    let apps: Vec<AppSummary> = client.get(routes::APPS)?;
    for name in PRELOADED {
        if apps.iter().any(|a| a.id == *name) {
            continue;
        }
        let bytes = edge_workspace::archive::pack_dir(&packages.join(name))
            .with_context(|| format!("cannot pack `{name}`"))?;
        let upload = format!("{}?name={name}", routes::APPS_UPLOAD);
        let _: edge_api::types::AppDetail =
            client.post_bytes(&upload, "application/gzip", bytes)?;
    }
    Ok(())
}

/// A client of the demo CO's north API, with its admin token.
fn north_client(data: &Path, north: SocketAddr) -> anyhow::Result<Client> {
    let token_file = data.join("co").join("admin.token");
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("cannot read `{}`", token_file.display()))?;
    let ca = std::fs::read(data.join("co").join("ca").join("ca.crt"))
        .context("cannot read the CA certificate of the demo's CO")?;
    Ok(Client::with_ca(
        &format!("https://{north}"),
        Some(token.trim().to_owned()),
        Some(&ca),
    )?)
}

/// Wait (up to [`REPORT_WAIT`]) until the CO holds `device`'s capabilities,
/// which its node sends through the LO as it starts.
fn capabilities_reported(data: &Path, north: SocketAddr, device: &str) -> anyhow::Result<()> {
    let client = north_client(data, north)?;
    let path = routes::fill(routes::DEVICE, device);
    let until = std::time::Instant::now() + REPORT_WAIT;
    loop {
        let d: edge_api::types::Device = client.get(&path)?;
        if d.capabilities.is_some() {
            return Ok(());
        }
        if std::time::Instant::now() >= until {
            anyhow::bail!("no report within {} s", REPORT_WAIT.as_secs());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Longest the demo waits for its node's first capabilities report.
const REPORT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Enrol the LO (`device` None) or this host, unless `dir` holds credentials.
fn enroll(client: &Client, dir: &Path, device: Option<&str>) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if dir.join("edged.toml").is_file() {
        return Ok(());
    }
    // A folder a crash left half-written is made again.
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear `{}`", dir.display()))?;
    }
    let partial = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)
        .with_context(|| format!("cannot create `{}`", partial.display()))?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o700))?;
    let request = EnrollRequest {
        site: SITE.to_owned(),
        device: device.map(str::to_owned),
        direct: false,
        // The LO's certificate names the address it listens on, so podman or
        // skopeo on this host verify it as the site's registry, as they would
        // an LO enrolled with `co enroll --lo --name`.
        names: if device.is_none() {
            vec!["127.0.0.1".to_owned()]
        } else {
            Vec::new()
        },
    };
    let e: Enrollment = client.post(routes::ENROLLMENTS, &request)?;
    let role = if device.is_some() { "en" } else { "lo" };
    edge_api::mtls::write_credentials(&partial, &e, SITE, role)?;
    std::fs::rename(&partial, dir).with_context(|| format!("cannot write `{}`", dir.display()))?;
    Ok(())
}

/// Write `server` into a credentials folder's `edged.toml`.
fn point_at(dir: &Path, server: &str) -> anyhow::Result<()> {
    let identity = edge_api::mtls::Identity::load(dir)?;
    if identity.file.server == server {
        return Ok(());
    }
    let mut file = identity.file;
    file.server = server.to_owned();
    let path = dir.join("edged.toml");
    let tmp: PathBuf = dir.join("edged.toml.new");
    std::fs::write(&tmp, file.to_toml())
        .with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}

/// The readiness text: where things are and what to try next.
fn announce(data: &Path, north: SocketAddr, device: &str) {
    use std::io::Write as _;
    let d = data.display();
    let text = format!(
        "edged all listening on https://{north} (site {SITE}, device {device})

The demo is running: a central orchestrator, the site's local orchestrator and
this host as its edge node. Data in {d}. Next, in another terminal:

  edgectl login --server https://{north} --ca-file {d}/co/ca/ca.crt < {d}/co/admin.token
  edgectl co list apps
  edgectl co add app --artifact {d}/packages/hello-wasm
  edgectl co deploy --app hello-wasm --site {SITE} --wait
  edgectl co list deployments --site {SITE}
  edgectl en list --data {d}/en
  edgectl tui --en-data {d}/en
  edgectl co undeploy --app hello-wasm --site {SITE} --wait --yes

Stop with Ctrl-C; starting again on {d} keeps everything.
"
    );
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
