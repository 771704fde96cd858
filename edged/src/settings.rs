//! Effective settings, resolved once at start: flag > `EDGED_…` variable >
//! `edged.toml` > default. Nothing else in the daemon reads the environment
//! or configuration files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::cli::{Args, Mode};

/// Default north API address.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:7070";
/// Default data directory (relative to where `edged` starts).
pub(crate) const DEFAULT_DATA: &str = "edged-data";
/// Default south (mTLS) address.
pub(crate) const DEFAULT_SOUTH_LISTEN: &str = "127.0.0.1:7443";
/// Default SPIFFE trust domain.
pub(crate) const DEFAULT_TRUST_DOMAIN: &str = "edge.local";

/// The configuration file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    mode: Option<Mode>,
    data: Option<PathBuf>,
    listen: Option<String>,
    insecure_registries: Option<Vec<String>>,
    log: Option<String>,
    log_format: Option<crate::cli::LogFormat>,
    south_listen: Option<String>,
    trust_domain: Option<String>,
    trust_refresh: Option<u64>,
    credentials: Option<PathBuf>,
    poll_interval: Option<u64>,
    outbox_limit: Option<u64>,
    pull_cache_max_bytes: Option<u64>,
    listen_limits: Option<String>,
    server: Option<String>,
    trust_bundle_uri: Option<String>,
    metrics_listen: Option<String>,
    registry_host: Option<String>,
    trust_bundle_pin: Option<String>,
    trust_bundle_ca: Option<PathBuf>,
    poll_hours: Option<String>,
    downtime: Option<String>,
    labels: Option<std::collections::BTreeMap<String, String>>,
    run_as: Option<String>,
    north_cert: Option<PathBuf>,
    north_key: Option<PathBuf>,
    north_names: Option<Vec<String>>,
    north_plain_http: Option<bool>,
    source_allow: Option<Vec<String>>,
    source_deny: Option<Vec<String>>,
    source_max_bytes: Option<u64>,
    otlp_listen: Option<String>,
    otlp_buffer_max_bytes: Option<u64>,
    otlp_export: Option<String>,
    host_metrics_interval: Option<String>,
}

/// Resolved settings.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Which components run.
    pub mode: Mode,
    /// Data directory.
    pub data: PathBuf,
    /// North API address.
    pub listen: String,
    /// OCI registries reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// The north API's own certificate chain and key (co); `None`: the CO's
    /// CA issues one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub north_cert: Option<PathBuf>,
    /// The key of `north_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub north_key: Option<PathBuf>,
    /// Extra names of the issued north certificate (co).
    pub north_names: Vec<String>,
    /// Plain HTTP on the north API (co; behind a local TLS proxy only).
    pub north_plain_http: bool,
    /// Log filter.
    pub log: String,
    /// Text or JSON log lines.
    pub log_format: crate::cli::LogFormat,
    /// Address of the south API (mTLS: Git serving for LOs).
    pub south_listen: String,
    /// SPIFFE trust domain of the identities the CO issues.
    pub trust_domain: String,
    /// The trust bundle's refresh hint, seconds (co).
    pub trust_refresh: u64,
    /// Credentials folder (lo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<PathBuf>,
    /// Seconds between fetches without a nudge (lo).
    pub poll_interval: u64,
    /// Bytes of reports the outbox may hold (lo).
    pub outbox_limit: u64,
    /// Bytes kept of what is pulled through from registries (lo).
    pub pull_cache_max_bytes: u64,
    /// Limits of every listener (`connections=…,per-peer=…,handshake=…,header=…,body=…`).
    #[serde(serialize_with = "as_text")]
    pub listen_limits: crate::http::Limits,
    /// The fleet manager polled (en).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Where `/metrics` is served, plain HTTP (lo, en).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// The registry host served deployments name (lo; `None`: derived).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_host: Option<String>,
    /// Where the trust anchors come from, when not from `ca.crt` (en).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_bundle: Option<TrustBundle>,
    /// Daily polling period (en).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_hours: Option<String>,
    /// Daily downtime window (en).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downtime: Option<String>,
    /// Labels reported with the capabilities (en; configuration file only).
    pub labels: std::collections::BTreeMap<String, String>,
    /// The account process workloads run as (en).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as: Option<String>,
    /// Hosts app sources may name although internal (co).
    pub source_allow: Vec<String>,
    /// Hosts app sources may not name (co).
    pub source_deny: Vec<String>,
    /// The node's OTLP/HTTP receiver: an address, `auto` (loopback) or `off` (en).
    pub otlp_listen: String,
    /// Bytes of telemetry the node buffers for its fleet manager (en).
    pub otlp_buffer_max_bytes: u64,
    /// Seconds between host-metrics requests of the node's collector; 0: none (en).
    pub host_metrics_interval: u64,
    /// The OTLP/HTTP endpoint the LO exports its nodes' telemetry to (lo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_export: Option<String>,
    /// Most bytes one Git app-source fetch downloads (co).
    pub source_max_bytes: u64,
    /// A site stick to take in before serving (lo; command line only).
    #[serde(skip)]
    pub import: Option<PathBuf>,
    /// Where a mode hands its bound addresses when it runs inside `--mode
    /// all`, instead of printing its readiness line.
    #[serde(skip)]
    pub(crate) ready: Ready,
}

/// The sending end of a [`Ready`] hand-off, taken once.
type ReadySlot = Arc<Mutex<Option<tokio::sync::oneshot::Sender<Vec<SocketAddr>>>>>;

/// A one-time hand-off of a mode's bound addresses to `--mode all`.
#[derive(Clone, Default)]
pub(crate) struct Ready(Option<ReadySlot>);

impl Ready {
    /// A hand-off and the receiving end.
    pub(crate) fn channel() -> (Self, tokio::sync::oneshot::Receiver<Vec<SocketAddr>>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (Self(Some(Arc::new(Mutex::new(Some(tx))))), rx)
    }

    /// Hand the addresses over; `false` when nobody asked for them (the
    /// mode then prints its readiness line itself).
    pub(crate) fn send(&self, addrs: Vec<SocketAddr>) -> bool {
        let Some(slot) = &self.0 else {
            return false;
        };
        if let Some(tx) = slot.lock().ok().and_then(|mut s| s.take()) {
            let _ = tx.send(addrs);
        }
        true
    }
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Ready(all)"
        } else {
            "Ready"
        })
    }
}

/// Default seconds between fetches (lo).
pub(crate) const DEFAULT_POLL_INTERVAL: u64 = 30;
/// Default outbox bound, bytes (lo).
pub(crate) const DEFAULT_OUTBOX_LIMIT: u64 = 64 * 1024 * 1024;
/// Bytes kept of what an LO pulls through for its site: 10 GiB.
pub(crate) const DEFAULT_PULL_CACHE_MAX_BYTES: u64 = 10 * 1024 * 1024 * 1024;
/// Bytes of telemetry a node buffers for its fleet manager by default.
pub(crate) const DEFAULT_OTLP_BUFFER_MAX_BYTES: u64 = 8 * 1024 * 1024;

impl Settings {
    /// Resolve from parsed arguments (clap has already applied `EDGED_…`
    /// variables) and the configuration file.
    pub fn resolve(args: &Args) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => {
                let data = args
                    .data
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
                let candidate = data.join("edged.toml");
                if candidate.is_file() {
                    read_file(&candidate)?
                } else {
                    File::default()
                }
            }
        };
        let mode = args.mode.or(file.mode).ok_or(NoMode)?;
        let listen = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        listen.parse::<std::net::SocketAddr>().with_context(|| {
            format!(
                "`{listen}` is not an address to listen on; use HOST:PORT such as 127.0.0.1:7070"
            )
        })?;
        let south_listen = args
            .south_listen
            .clone()
            .or(file.south_listen)
            .unwrap_or_else(|| DEFAULT_SOUTH_LISTEN.to_owned());
        south_listen.parse::<std::net::SocketAddr>().with_context(|| {
            format!("`{south_listen}` is not an address to listen on; use HOST:PORT such as 127.0.0.1:7443")
        })?;
        let trust_domain = args
            .trust_domain
            .clone()
            .or(file.trust_domain)
            .unwrap_or_else(|| DEFAULT_TRUST_DOMAIN.to_owned());
        anyhow::ensure!(
            !trust_domain.is_empty()
                && trust_domain.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'.' | b'-' | b'_')),
            "`{trust_domain}` is not a SPIFFE trust domain; use lower-case letters, digits, `.`, `-` and `_`"
        );
        let poll_interval = args
            .poll_interval
            .or(file.poll_interval)
            .unwrap_or(DEFAULT_POLL_INTERVAL);
        anyhow::ensure!(
            (1..=86_400).contains(&poll_interval),
            "a poll interval of {poll_interval} s is out of range; use 1 to 86400 seconds"
        );
        let outbox_limit = args
            .outbox_limit
            .or(file.outbox_limit)
            .unwrap_or(DEFAULT_OUTBOX_LIMIT);
        anyhow::ensure!(
            outbox_limit >= 64 * 1024,
            "an outbox limit of {outbox_limit} bytes is too small; use at least 65536"
        );
        let pull_cache_max_bytes = args
            .pull_cache_max_bytes
            .or(file.pull_cache_max_bytes)
            .unwrap_or(DEFAULT_PULL_CACHE_MAX_BYTES);
        anyhow::ensure!(
            pull_cache_max_bytes >= 1024 * 1024,
            "a pull-through cache of {pull_cache_max_bytes} bytes is too small; use at least 1048576"
        );
        let listen_limits = match args.listen_limits.clone().or(file.listen_limits) {
            Some(spec) => crate::http::Limits::parse(&spec)
                .map_err(|e| anyhow::anyhow!("the listener limits `{spec}` do not read: {e}"))?,
            None => crate::http::Limits::default(),
        };
        let credentials = args.credentials.clone().or(file.credentials);
        anyhow::ensure!(
            mode != Mode::Lo || credentials.is_some(),
            "a local orchestrator needs its credentials: `--credentials DIR` (written by `edgectl co enroll --site SITE --lo --out DIR`)"
        );
        anyhow::ensure!(
            mode != Mode::En || credentials.is_some(),
            "an edge node needs its credentials: `--credentials DIR` (written by `edgectl co enroll --site SITE --device ID --out DIR`)"
        );
        let server = args.server.clone().or(file.server);
        if let Some(s) = &server {
            anyhow::ensure!(
                s.starts_with("https://"),
                "`{s}` is not a fleet manager address; use https://HOST:PORT"
            );
        }
        let trust_refresh = args
            .trust_refresh
            .or(file.trust_refresh)
            .unwrap_or(edge_api::trust::REFRESH_HINT);
        anyhow::ensure!(
            (1..=7 * 86_400).contains(&trust_refresh),
            "`--trust-refresh {trust_refresh}` is out of range: 1 second to 7 days"
        );
        let trust_bundle = TrustBundle::resolve(
            args.trust_bundle_uri.clone().or(file.trust_bundle_uri),
            args.trust_bundle_pin.clone().or(file.trust_bundle_pin),
            args.trust_bundle_ca.clone().or(file.trust_bundle_ca),
        )?;
        let poll_hours = args.poll_hours.clone().or(file.poll_hours);
        let downtime = args.downtime.clone().or(file.downtime);
        #[cfg(feature = "en")]
        for w in poll_hours.iter().chain(downtime.iter()) {
            crate::en::window::Window::parse(w).map_err(anyhow::Error::msg)?;
        }
        let source_allow = args
            .source_allow
            .clone()
            .or(file.source_allow)
            .unwrap_or_default();
        let source_deny = args
            .source_deny
            .clone()
            .or(file.source_deny)
            .unwrap_or_default();
        let source_max_bytes = args
            .source_max_bytes
            .or(file.source_max_bytes)
            .unwrap_or(edge_workspace::git::MAX_DOWNLOAD_BYTES);
        edge_workspace::git::SourcePolicy::new(&source_allow, &source_deny, source_max_bytes)
            .map_err(anyhow::Error::msg)?;
        let run_as = args.run_as.clone().or(file.run_as);
        if let Some(u) = &run_as {
            edge_runtime::process::RunAs::lookup(u)?;
        }
        // Absolute, so what runs in other working folders (a node's
        // processes) finds what is named below it.
        let data = args
            .data
            .clone()
            .or(file.data)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
        let data = std::path::absolute(&data)
            .with_context(|| format!("cannot resolve the data folder `{}`", data.display()))?;
        let north_cert = args.north_cert.clone().or(file.north_cert);
        let north_key = args.north_key.clone().or(file.north_key);
        anyhow::ensure!(
            north_cert.is_some() == north_key.is_some(),
            "give the north API's certificate and key together: `--north-cert FILE --north-key FILE`"
        );
        let north_names = args
            .north_names
            .clone()
            .or(file.north_names)
            .unwrap_or_default();
        let registry_host = args.registry_host.clone().or(file.registry_host);
        if let Some(h) = &registry_host
            && !registry_host_ok(h)
        {
            anyhow::bail!(
                "`{h}` is not a registry host; use HOST or HOST:PORT such as lo.plant-1.example:7443 or 192.0.2.10:7443"
            );
        }
        let north_plain_http = args.north_plain_http || file.north_plain_http.unwrap_or(false);
        let otlp_listen = args
            .otlp_listen
            .clone()
            .or(file.otlp_listen)
            .unwrap_or_else(|| "auto".to_owned());
        anyhow::ensure!(
            matches!(otlp_listen.as_str(), "auto" | "off")
                || otlp_listen.parse::<std::net::SocketAddr>().is_ok(),
            "`{otlp_listen}` is not an OTLP listening address; use HOST:PORT (an IP address), `auto` or `off`"
        );
        let otlp_buffer_max_bytes = args
            .otlp_buffer_max_bytes
            .or(file.otlp_buffer_max_bytes)
            .unwrap_or(DEFAULT_OTLP_BUFFER_MAX_BYTES);
        anyhow::ensure!(
            otlp_buffer_max_bytes >= 1024,
            "a telemetry buffer of {otlp_buffer_max_bytes} bytes is too small; use at least 1024"
        );
        let host_metrics_interval = host_metrics_interval(
            args.host_metrics_interval
                .as_deref()
                .or(file.host_metrics_interval.as_deref())
                .unwrap_or("60"),
        )?;
        let otlp_export = args.otlp_export.clone().or(file.otlp_export);
        if let Some(url) = &otlp_export {
            anyhow::ensure!(
                (url.starts_with("http://") || url.starts_with("https://"))
                    && reqwest::Url::parse(url).is_ok_and(|u| u.host_str().is_some()),
                "`{url}` is not an OTLP/HTTP endpoint; use http(s)://HOST:PORT[/PATH] (signals go to PATH/v1/traces, …)"
            );
        }
        Ok(Self {
            otlp_listen,
            otlp_buffer_max_bytes,
            host_metrics_interval,
            otlp_export,
            north_cert,
            north_key,
            north_names,
            north_plain_http,
            source_allow,
            source_deny,
            source_max_bytes,
            ready: Ready::default(),
            import: args.import.clone(),
            run_as,
            server,
            trust_bundle,
            metrics_listen: args.metrics_listen.clone().or(file.metrics_listen),
            registry_host,
            poll_hours,
            downtime,
            labels: file.labels.unwrap_or_default(),
            credentials,
            poll_interval,
            outbox_limit,
            pull_cache_max_bytes,
            listen_limits,
            south_listen,
            trust_domain,
            trust_refresh,
            mode,
            data,
            listen,
            insecure_registries: args
                .insecure_registries
                .clone()
                .or(file.insecure_registries)
                .unwrap_or_default(),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            log: args
                .log
                .clone()
                .or(file.log)
                .unwrap_or_else(|| "info".to_owned()),
        })
    }

    /// The settings as an `edged.toml`.
    #[must_use]
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# effective edged configuration (flags > EDGED_* variables > edged.toml > defaults)\n{body}"
        )
    }
}

/// No mode given, by flag, variable or configuration file: there is no
/// sensible default (a CO started by accident in the current folder taught
/// nothing), so the answer is what the modes are and how to start.
#[derive(Debug)]
pub(crate) struct NoMode;

impl std::fmt::Display for NoMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use clap::ValueEnum as _;
        writeln!(f, "edged needs `--mode`, the part to run:")?;
        writeln!(f)?;
        // The quickest start first.
        let mut modes = Mode::value_variants().to_vec();
        modes.sort_by_key(|m| *m != Mode::All);
        for m in modes {
            if let Some(v) = m.to_possible_value() {
                let help = v.get_help().map(ToString::to_string).unwrap_or_default();
                writeln!(f, "  {:<4} {help}", v.get_name())?;
            }
        }
        writeln!(f)?;
        writeln!(f, "To try everything on one machine:")?;
        writeln!(f)?;
        writeln!(f, "  edged --mode all --data ./demo")?;
        writeln!(f)?;
        write!(f, "More in `edged --help`.")
    }
}

impl std::error::Error for NoMode {}

/// Serialize a value as its text.
fn as_text<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn read_file(path: &Path) -> anyhow::Result<File> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("`{}` is not a valid edged configuration", path.display()))
}

/// An edge node's Trust Bundle API settings: where its trust anchors come
/// from, and how that server is authenticated on first contact (never by
/// trusting whatever it presents).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrustBundle {
    /// The bundle's, or a discovery document's, `https://` URL.
    pub uri: String,
    /// `sha256:HEX` of a certificate the server's chain must hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// PEM roots that authenticate the server instead of the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

impl TrustBundle {
    fn resolve(
        uri: Option<String>,
        pin: Option<String>,
        ca: Option<PathBuf>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(uri) = uri else {
            anyhow::ensure!(
                pin.is_none() && ca.is_none(),
                "`--trust-bundle-pin` and `--trust-bundle-ca` authenticate the server of `--trust-bundle-uri`, which is not given"
            );
            return Ok(None);
        };
        anyhow::ensure!(
            uri.starts_with("https://") && uri.len() > "https://".len(),
            "`{uri}` is not an https:// URL: a trust bundle is only taken over authenticated HTTPS"
        );
        anyhow::ensure!(
            pin.is_none() || ca.is_none(),
            "give `--trust-bundle-pin` or `--trust-bundle-ca`, not both"
        );
        if let Some(p) = &pin {
            let hex = p.strip_prefix("sha256:").unwrap_or_default();
            anyhow::ensure!(
                hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "`{p}` is not a pin: use sha256: and 64 lower-case hex digits (the SHA-256 of a certificate's DER)"
            );
        }
        Ok(Some(Self { uri, pin, ca }))
    }
}

/// Whether `h` is a registry host as an OCI reference names one: a DNS name
/// or IPv4 address, or an IPv6 address in brackets, with an optional port.
pub(crate) fn registry_host_ok(h: &str) -> bool {
    if h.parse::<SocketAddr>().is_ok_and(|a| a.port() != 0) {
        return true;
    }
    if let Some(inner) = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (h, None),
    };
    if port.is_some_and(|p| !p.parse::<u16>().is_ok_and(|p| p != 0)) {
        return false;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `--host-metrics-interval`: seconds (1 to 86400) or `off`/`0` (none).
fn host_metrics_interval(v: &str) -> anyhow::Result<u64> {
    match v.trim() {
        "off" | "0" => Ok(0),
        s => s
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=86_400).contains(n))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "`{v}` is not a host-metrics interval; use a number of seconds from 1 to 86400, or `off`"
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::{host_metrics_interval, registry_host_ok};

    #[test]
    fn host_metrics_intervals_are_seconds_or_off() {
        assert_eq!(host_metrics_interval("60").unwrap(), 60);
        assert_eq!(host_metrics_interval("1").unwrap(), 1);
        assert_eq!(host_metrics_interval("off").unwrap(), 0);
        assert_eq!(host_metrics_interval("0").unwrap(), 0);
        for bad in ["", "-1", "1.5", "60s", "86401", "never"] {
            let e = host_metrics_interval(bad).unwrap_err().to_string();
            assert!(e.contains("from 1 to 86400"), "{bad}: {e}");
        }
    }

    #[test]
    fn registry_hosts_are_names_or_addresses_with_an_optional_port() {
        for ok in [
            "lo.plant-1.example",
            "lo.plant-1.example:7443",
            "192.0.2.10:7443",
            "192.0.2.10",
            "[::1]:7443",
            "[2001:db8::1]",
            "localhost",
        ] {
            assert!(registry_host_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "lo:0",
            "lo:99999",
            "lo:",
            "-lo.example",
            "lo..example",
            "https://lo",
            "lo/x",
            "lo example",
            "[::1",
            "::1",
            "lo.example:7443:1",
        ] {
            assert!(!registry_host_ok(bad), "{bad}");
        }
    }
}
