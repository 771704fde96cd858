//! `edgectl completions SHELL`: print a completion script generated from the
//! clap definition, so it can never drift from the real command line.

use clap::CommandFactory as _;

use crate::cli::Cli;
use crate::printer::Printer;

/// Print the completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell, printer: Printer) {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "edgectl", &mut out);
    printer.raw(&out);
}
