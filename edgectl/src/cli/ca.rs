//! `edgectl co ca …`: the CO's CA and its rotation.

use clap::Subcommand;

/// `edgectl co ca …`.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// The CA's anchors: the generation that signs, a staged one, retired
    /// ones still trusted, each with its pin (`--trust-bundle-pin`).
    Show,
    /// Make a new CA and add it to the trust bundle, signing nothing yet;
    /// LOs and nodes take the new bundle within its refresh hint.
    Stage,
    /// Let the staged CA sign from now on; the former one stays trusted
    /// until the identities it issued have expired.
    ///
    /// Refused within one refresh hint of staging, so every LO and node
    /// trusts the new CA before anything it signs reaches them.
    Activate {
        /// Activate now, before every LO and node may have the new bundle.
        #[arg(long)]
        force: bool,
    },
    /// Drop retired CAs from the trust bundle once no valid identity they
    /// issued remains.
    Retire {
        /// Drop them now: the identities they issued stop working.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation (with `--force`).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}
