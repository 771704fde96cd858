//! The command line, declared once with clap. Commands receive plain values,
//! never clap types beyond their own argument structs.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Orchestrate Margo edge workloads: app store, deployments, live status.
///
/// edgectl talks to an `edged` central orchestrator (CO), or works on files
/// directly. Start by checking an application package:
///
///   edgectl validate ./my-app
#[derive(Debug, Parser)]
#[command(
    name = "edgectl",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Output format: `table` for people, `json` or `yaml` for scripts.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines and tables for people.
    Table,
    /// Stable JSON for scripts.
    Json,
    /// The same structure as JSON, in YAML.
    Yaml,
}

/// edgectl commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check Margo documents and application packages.
    ///
    /// Each PATH is a document (YAML or JSON: ApplicationDescription,
    /// ApplicationDeployment, DesiredStateManifest, DeploymentStatusManifest,
    /// DeviceCapabilitiesManifest, ProblemDetail; the kind is detected), an
    /// application package (a folder with `margo.yaml` and `resources/`), or a
    /// folder of documents, checked recursively.
    ///
    /// Every problem is printed as `FILE: field.path: message`. Exit status 0
    /// when everything is valid, 1 when anything is not, 2 on usage errors.
    ///
    /// Examples:
    ///
    ///   edgectl validate ./hello-app
    ///
    ///   edgectl validate deployment.yaml capabilities.json -o json
    Validate(ValidateArgs),

    /// Print a shell completion script.
    ///
    /// Example: `edgectl completions bash > ~/.local/share/bash-completion/completions/edgectl`
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Arguments of `edgectl validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Documents, package folders or folders of documents.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Do not print notes (extensions used, older Margo forms converted).
    #[arg(short, long)]
    pub quiet: bool,
}
