//! `edgectl config …`: the saved logins (contexts).

use clap::Subcommand;

/// `edgectl config …` commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// List the saved contexts; `*` marks the current one.
    GetContexts,
    /// Make a saved context the current one.
    ///
    /// Example: `edgectl config use-context plant-1`
    UseContext {
        /// The context's name (see `edgectl config get-contexts`).
        #[arg(add = crate::complete::contexts())]
        name: String,
    },
    /// Print the current context's name.
    CurrentContext,
}
