//! The rollout arguments: the policy flags every changing command takes
//! (`--waves`, `--batch`, `--max-failures`, `--auto-rollback`,
//! `--wave-timeout`) and `edgectl co rollout …`.

use std::time::Duration;

use clap::Subcommand;
use edge_api::types::RolloutPolicy;

use super::parse_duration;

/// How a change reaches many devices.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Rollout")]
pub struct RolloutArgs {
    /// Send the change in waves, each waiting until its devices report it
    /// installed: how far each wave goes, as counts or shares of the
    /// devices, e.g. `1,10%,50%,100%` (the last always reaches all).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        conflicts_with = "batch"
    )]
    pub waves: Vec<String>,
    /// Send the change in waves of N devices each.
    #[arg(long, value_name = "N")]
    pub batch: Option<u32>,
    /// Devices that may fail, or not report within a wave's time, before
    /// the rollout stops: a count or a share, `2` or `5%` [default: 0].
    #[arg(long, value_name = "N|P%")]
    pub max_failures: Option<String>,
    /// When the rollout stops, put the previous deployments back on every
    /// device it changed [default: pause, to resume or undo by hand].
    #[arg(long)]
    pub auto_rollback: bool,
    /// How long a wave waits for its devices: `90s`, `10m`, `1h` [default: 10m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wave_timeout: Option<Duration>,
}

impl RolloutArgs {
    /// The policy the flags give; `None` when none was given.
    #[must_use]
    pub fn policy(&self) -> Option<RolloutPolicy> {
        let p = RolloutPolicy {
            waves: self.waves.clone(),
            batch: self.batch,
            max_failures: self.max_failures.clone(),
            auto_rollback: self.auto_rollback,
            wave_timeout_secs: self.wave_timeout.map(|d| d.as_secs()),
        };
        (p != RolloutPolicy::default()).then_some(p)
    }
}

/// `edgectl co rollout …`.
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// List rollouts, newest first, with their progress.
    List {
        /// Most rollouts to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show a rollout: each wave's progress and each device's state.
    ///
    /// With `--wait`, follow it live until it ends: exit 0 when it is done,
    /// 1 when it paused, rolled back or the time ran out.
    Status {
        /// The rollout's id (see `edgectl co rollout list`).
        id: String,
        /// Follow the rollout until it ends, with a progress bar per wave.
        #[arg(long)]
        wait: bool,
        /// How long `--wait` waits.
        #[arg(long, value_name = "DURATION", default_value = "30m", requires = "wait", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Stop sending waves; the devices already changed keep the change.
    Pause {
        /// The rollout's id.
        id: String,
    },
    /// Go on with a paused rollout; the failures so far are accepted.
    Resume {
        /// The rollout's id.
        id: String,
    },
    /// Put the previous deployments back on every device the rollout
    /// changed and send nothing more (deployments changed since by
    /// something else are left alone).
    Undo {
        /// The rollout's id.
        id: String,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
}
