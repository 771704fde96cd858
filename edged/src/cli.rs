//! The `edged` command line. Every flag also reads an `EDGED_…` variable;
//! values missing from both come from `edged.toml`, then from defaults (see
//! `settings`).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The edge orchestration daemon.
///
/// Try everything on one machine: a central orchestrator, a demo site's local
/// orchestrator and this host as its edge node, with the fixture apps in the
/// store; it prints the commands to try next:
///
///   edged --mode all --data ./demo
///
/// Start a central orchestrator that keeps its state in ./co-data and serves
/// the north API on a free port:
///
///   edged --mode co --data ./co-data --listen 127.0.0.1:0
///
/// Start a site's local orchestrator with the credentials `edgectl co enroll
/// --site plant-1 --lo --out ./lo-creds` wrote; it serves the Margo API to
/// the site's edge nodes on port 7443:
///
///   edged --mode lo --credentials ./lo-creds --data ./lo-data --listen 0.0.0.0:7443
///
/// An Edge Node runs workloads with the credentials `edgectl co enroll --site
/// plant-1 --device edge-1 --out ./edge-1` wrote, polling its site's LO (or the
/// CO, for a node enrolled with `--direct`); `edgectl en list` shows what runs:
///
///   edged --mode en --credentials ./edge-1 --data ./en-data --server https://lo-host:7443
#[derive(Debug, Parser)]
#[command(
    name = "edged",
    version,
    max_term_width = 100,
    after_long_help = "One edged runs on a data folder at a time: it holds DATA/lock while it runs, \
and a second start names the pid holding it.

SIGTERM or Ctrl-C stops it: requests in flight finish (at most 10 s), event streams and long \
polls are answered at once; a second signal exits at once.

With OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set, spans are \
exported over OTLP/HTTP, as service OTEL_SERVICE_NAME (default edged-co, edged-lo, edged-en) \
with OTEL_RESOURCE_ATTRIBUTES; one `edgectl co deploy` is one trace across the CO, the LO and \
the node (docs/telemetry.md).

Exit status: 0 stopped cleanly; 1 failed to start or stopped by a second signal; 2 usage."
)]
pub struct Args {
    /// Which components to run; required (or `mode` in the configuration file).
    #[arg(long, env = "EDGED_MODE", value_enum)]
    pub mode: Option<Mode>,

    /// Data directory: workspace, database, token. Created on first start.
    #[arg(long, env = "EDGED_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Address to serve on: the north API (co), or the Margo API for edge nodes (lo); port 0 picks a free port.
    #[arg(long, env = "EDGED_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<String>,

    /// Address of the south API (mTLS; Git serving for Local Orchestrators); port 0 picks a free port.
    #[arg(long, env = "EDGED_SOUTH_LISTEN", value_name = "HOST:PORT")]
    pub south_listen: Option<String>,

    /// SPIFFE trust domain of the identities the CO issues [default: edge.local].
    #[arg(long, env = "EDGED_TRUST_DOMAIN", value_name = "DOMAIN")]
    pub trust_domain: Option<String>,

    /// How often LOs and nodes look for a new trust bundle (the bundle's `spiffe_refresh_hint`), seconds; a staged CA may sign one such interval after staging (co) [default: 3600].
    #[arg(long, env = "EDGED_TRUST_REFRESH", value_name = "SECS")]
    pub trust_refresh: Option<u64>,

    /// Configuration file [default: DATA/edged.toml when it exists].
    #[arg(long, env = "EDGED_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// OCI registries reached over plain HTTP (host:port), comma-separated.
    #[arg(
        long,
        env = "EDGED_INSECURE_REGISTRIES",
        value_delimiter = ',',
        value_name = "HOST:PORT"
    )]
    pub insecure_registries: Option<Vec<String>>,

    /// The north API's TLS certificate chain, PEM (co) [default: one the CO's
    /// CA issues at each start; clients trust `DATA/ca/ca.crt`].
    #[arg(
        long,
        env = "EDGED_NORTH_CERT",
        value_name = "FILE",
        requires = "north_key"
    )]
    pub north_cert: Option<PathBuf>,

    /// The private key of `--north-cert`, PEM (co).
    #[arg(
        long,
        env = "EDGED_NORTH_KEY",
        value_name = "FILE",
        requires = "north_cert"
    )]
    pub north_key: Option<PathBuf>,

    /// More host names or addresses for the certificate the CO issues itself
    /// for the north API, comma-separated (co) [always: localhost, 127.0.0.1,
    /// ::1 and the listen address].
    #[arg(
        long,
        env = "EDGED_NORTH_NAMES",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub north_names: Option<Vec<String>>,

    /// Serve the north API over plain HTTP, for a TLS-terminating proxy on
    /// this host only; tokens then cross the wire in the clear (co).
    #[arg(long, env = "EDGED_NORTH_PLAIN_HTTP")]
    pub north_plain_http: bool,

    /// Hosts app sources (Git, OCI) may name although they are loopback, private or link-local: a host name, an address or a CIDR, comma-separated or repeated (co) [default: public addresses only].
    #[arg(
        long,
        env = "EDGED_SOURCE_ALLOW",
        value_delimiter = ',',
        value_name = "HOST|CIDR"
    )]
    pub source_allow: Option<Vec<String>>,

    /// Hosts app sources may not name although they are public: a host name, an address or a CIDR, comma-separated or repeated; wins over --source-allow (co).
    #[arg(
        long,
        env = "EDGED_SOURCE_DENY",
        value_delimiter = ',',
        value_name = "HOST|CIDR"
    )]
    pub source_deny: Option<Vec<String>>,

    /// Most bytes one Git app-source fetch downloads; the download stops there (co) [default: 268435456].
    #[arg(long, env = "EDGED_SOURCE_MAX_BYTES", value_name = "BYTES")]
    pub source_max_bytes: Option<u64>,

    /// Log filter, such as `info` or `edged=debug`.
    #[arg(long, env = "EDGED_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Log lines as text for people, or as one JSON object each for a log collector [default: text].
    #[arg(long, env = "EDGED_LOG_FORMAT", value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Credentials folder written by `edgectl co enroll` (lo, en): identity, CA and the CO's address.
    #[arg(long, env = "EDGED_CREDENTIALS", value_name = "DIR")]
    pub credentials: Option<PathBuf>,

    /// Seconds between fetches of the desired state when no nudge arrives (lo, en) [default: 30].
    #[arg(long, env = "EDGED_POLL_INTERVAL", value_name = "SECONDS")]
    pub poll_interval: Option<u64>,

    /// Most bytes of reports kept for the CO while it is unreachable (lo) [default: 67108864].
    #[arg(long, env = "EDGED_OUTBOX_LIMIT", value_name = "BYTES")]
    pub outbox_limit: Option<u64>,

    /// Most bytes kept of the images, modules and binaries pulled through from their registries for the site's devices; the least recently used go first (lo) [default: 10737418240].
    #[arg(long, env = "EDGED_PULL_CACHE_MAX_BYTES", value_name = "BYTES")]
    pub pull_cache_max_bytes: Option<u64>,

    /// The node's OpenTelemetry collector, an OTLP/HTTP receiver whose endpoint every workload gets: `HOST:PORT`, `auto` (loopback, the port kept across restarts) or `off` (en) [default: auto].
    #[arg(long, env = "EDGED_OTLP_LISTEN", value_name = "HOST:PORT|auto|off")]
    pub otlp_listen: Option<String>,

    /// Most bytes of workload telemetry a node keeps for its fleet manager; the oldest go first (en) [default: 8388608].
    #[arg(long, env = "EDGED_OTLP_BUFFER_MAX_BYTES", value_name = "BYTES")]
    pub otlp_buffer_max_bytes: Option<u64>,

    /// Seconds between the host metrics (CPU, memory, the data folder's filesystem, load, network) the node's collector sends its fleet manager as OTLP: a number of seconds or `off` (en) [default: 60].
    #[arg(long, env = "EDGED_HOST_METRICS_INTERVAL", value_name = "SECONDS|off")]
    pub host_metrics_interval: Option<String>,

    /// Export the site's workload telemetry to this OTLP/HTTP endpoint (`URL/v1/traces`, …); without it the LO refuses its nodes' telemetry and they keep it (lo).
    #[arg(long, env = "EDGED_OTLP_EXPORT", value_name = "URL")]
    pub otlp_export: Option<String>,

    /// Limits of every listener, any of `connections=N,per-peer=N,handshake=10s,header=75s,body=60s` [default: those].
    #[arg(long, env = "EDGED_LISTEN_LIMITS", value_name = "LIMITS")]
    pub listen_limits: Option<String>,

    /// The fleet manager an edge node polls: its site's LO, `https://HOST:PORT` (en) [default: the CO, for nodes enrolled with `--direct`].
    #[arg(long, env = "EDGED_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// The registry host the LO's nodes dial, `HOST[:PORT]`: served deployments name each package-local artifact as `oci://HOST[:PORT]/<app>/<component>` (lo) [default: the first host name or address in the LO's certificate (`edgectl co enroll --lo --name`) with the port it listens on, else the address it listens on unless that is a wildcard].
    #[arg(long, env = "EDGED_REGISTRY_HOST", value_name = "HOST[:PORT]")]
    pub registry_host: Option<String>,

    /// Serve Prometheus metrics at `http://HOST:PORT/metrics`, plain HTTP: keep it on loopback or a monitoring network (lo, en) [default: none; the CO's are on its north API].
    #[arg(long, env = "EDGED_METRICS_LISTEN", value_name = "HOST:PORT")]
    pub metrics_listen: Option<String>,

    /// Take the trust anchors from the Margo Trust Bundle API at this `https://` URL (a SPIFFE bundle, or a `/.well-known/margo` discovery document naming one), kept current, instead of the credentials' `ca.crt` (en).
    #[arg(long, env = "EDGED_TRUST_BUNDLE_URI", value_name = "URL")]
    pub trust_bundle_uri: Option<String>,

    /// Authenticate the trust bundle's server by the SHA-256 of a certificate in its chain, e.g. the CA's that `edgectl co enroll` prints (en) [default: the system's roots].
    #[arg(
        long,
        env = "EDGED_TRUST_BUNDLE_PIN",
        value_name = "sha256:HEX",
        conflicts_with = "trust_bundle_ca"
    )]
    pub trust_bundle_pin: Option<String>,

    /// Authenticate the trust bundle's server by the roots in this PEM file (en) [default: the system's roots].
    #[arg(long, env = "EDGED_TRUST_BUNDLE_CA", value_name = "FILE")]
    pub trust_bundle_ca: Option<PathBuf>,

    /// Daily hours in which an edge node may poll, `HH:MM-HH:MM` UTC (en) [default: always].
    #[arg(long, env = "EDGED_POLL_HOURS", value_name = "WINDOW")]
    pub poll_hours: Option<String>,

    /// Daily downtime window, `HH:MM-HH:MM` UTC: no polls, no reports, no retries (en).
    #[arg(long, env = "EDGED_DOWNTIME", value_name = "WINDOW")]
    pub downtime: Option<String>,

    /// Local account native (`process`) workloads run as, by name or uid; edged must run as root to switch, and runs them as root only given `root` (en) [default: as root, an account of each workload's own; else edged's own].
    #[arg(long, env = "EDGED_RUN_AS", value_name = "USER")]
    pub run_as: Option<String>,

    /// Take in a site stick written by `edgectl co export` before serving (lo): checked whole, a fast-forward only.
    #[arg(long, value_name = "DIR")]
    pub import: Option<PathBuf>,

    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// How log lines are written.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Text for people (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, fields, span.
    Json,
}

/// Daemon modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Central Orchestrator: app store, sites, devices, north API.
    Co,
    /// Local Orchestrator: one site's desired state, served to its edge nodes.
    Lo,
    /// Edge Node: runs the workloads its fleet manager assigns to this host.
    En,
    /// All three on loopback, with a demo site and this host as its node: the quickest start.
    All,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        super::Args::command().debug_assert();
    }
}
