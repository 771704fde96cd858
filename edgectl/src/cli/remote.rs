//! Arguments of `edgectl co logs` and `edgectl co restart`: a deployment's
//! workload on any device, reached through the site's LO.

use super::since;

/// Arguments of `edgectl co logs`.
#[derive(Debug, clap::Args)]
pub struct RemoteLogsArgs {
    /// Deployment id, or a unique start of one (see `edgectl co list deployments`).
    #[arg(add = crate::complete::deployments())]
    pub deployment: String,
    /// The component (needed when the deployment has several).
    #[arg(long, short = 'c')]
    pub component: Option<String>,
    /// Keep printing what it writes until interrupted.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines (looked for in the log's last 32 MiB).
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<usize>,
    /// Only the lines written since DURATION ago (`90s`, `5m`, `1h`, `2d`)
    /// or since TIME (RFC 3339, `2026-05-01T10:00:00Z`).
    #[arg(long, value_name = "DURATION|TIME", value_parser = since::parse)]
    pub since: Option<i64>,
}

/// Arguments of `edgectl co restart`.
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    /// Deployment id, or a unique start of one (see `edgectl co list deployments`).
    #[arg(add = crate::complete::deployments())]
    pub deployment: String,
    /// The component (needed when the deployment has several).
    #[arg(long, short = 'c')]
    pub component: Option<String>,
}
