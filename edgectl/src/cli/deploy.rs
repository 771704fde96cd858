//! The arguments of the commands that change deployments and can wait for
//! the devices: `co deploy`, `co set`, `co upgrade` and `co undeploy`.

use super::{RolloutArgs, parse_duration};

/// Arguments of `edgectl co deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// App id or display name [on a terminal, asked when missing].
    #[arg(long, add = crate::complete::apps())]
    pub app: Option<String>,
    /// App version [default: the newest].
    #[arg(long = "app-version", value_name = "VERSION")]
    pub version: Option<String>,
    /// The site [on a terminal, asked when missing].
    #[arg(long, add = crate::complete::sites())]
    pub site: Option<String>,
    /// One device of the site.
    #[arg(long, conflicts_with = "selector", add = crate::complete::devices())]
    pub device: Option<String>,
    /// Only devices with these labels, `key=value` (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub selector: Vec<String>,
    /// A parameter value, `NAME=VALUE` (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Which profile to deploy: helm, compose, wasm or process [default: the app's first].
    #[arg(long = "deploytype", value_name = "TYPE")]
    pub deploy_type: Option<String>,
    /// Name this deployment, to run more than one of the app on a device
    /// (lower-case letters, digits, dashes); deploying with the same name
    /// again updates it.
    #[arg(long)]
    pub name: Option<String>,
    /// Print what would change; change nothing.
    #[arg(long, conflicts_with = "wait")]
    pub dry_run: bool,
    /// Also deploy to devices that have not reported their capabilities
    /// yet, unchecked (without it such a device is refused: whether it runs
    /// the profile's type is not known).
    #[arg(long)]
    pub allow_unreported: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

/// Which deployments `co set` and `co upgrade` change.
#[derive(Debug, Clone, clap::Args)]
pub struct Choice {
    /// The app (id or display name) whose deployments to change.
    #[arg(long, add = crate::complete::apps())]
    pub app: Option<String>,
    /// Its deployments at this site.
    #[arg(long, requires = "app", conflicts_with = "all_sites", add = crate::complete::sites())]
    pub site: Option<String>,
    /// Its deployments at every site.
    #[arg(long, requires = "app")]
    pub all_sites: bool,
    /// Only on this device.
    #[arg(long, requires = "app", add = crate::complete::devices())]
    pub device: Option<String>,
    /// Only on devices with these labels, `key=value` (repeatable).
    #[arg(long, value_name = "KEY=VALUE", requires = "app")]
    pub selector: Vec<String>,
    /// Print what would change; change nothing.
    #[arg(long, conflicts_with = "wait")]
    pub dry_run: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

/// Arguments of `edgectl co set`.
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// Deployment ids (or unique starts of them), then the values,
    /// `NAME=VALUE`.
    #[arg(value_name = "DEPLOYMENT|NAME=VALUE", required = true, add = crate::complete::deployments())]
    pub items: Vec<String>,
    #[command(flatten)]
    pub choice: Choice,
}

/// Arguments of `edgectl co upgrade`.
#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// The version to move to [default: the app's newest].
    #[arg(long, value_name = "VERSION")]
    pub to_version: Option<String>,
    #[command(flatten)]
    pub choice: Choice,
}

/// Arguments of `edgectl co undeploy`.
#[derive(Debug, clap::Args)]
pub struct UndeployArgs {
    /// Deployment id, or a unique start of one (see `edgectl co list deployments`).
    #[arg(conflicts_with_all = ["app", "site", "device"], add = crate::complete::deployments())]
    pub id: Option<String>,
    /// Every deployment of this app (id or display name) at `--site`.
    #[arg(long, requires = "site", add = crate::complete::apps())]
    pub app: Option<String>,
    /// The site of `--app`.
    #[arg(long, requires = "app", add = crate::complete::sites())]
    pub site: Option<String>,
    /// Only on this device.
    #[arg(long, requires = "app", add = crate::complete::devices())]
    pub device: Option<String>,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,
    /// Print what would be removed; remove nothing.
    #[arg(long, conflicts_with = "wait")]
    pub dry_run: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Waiting for devices to report.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// Wait until every device reports the change done, showing progress;
    /// exit 1 with a summary if any fails or the time runs out.
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits: `90s`, `5m`, `1h` or seconds.
    #[arg(long, value_name = "DURATION", default_value = "5m", requires = "wait", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}
