//! `edgectl completions SHELL`: print the script that makes the shell ask
//! `edgectl` itself what fits (clap_complete's dynamic completion): commands
//! and flags from the clap definition, so it can never drift from the real
//! command line, and live names from the CO (see `crate::complete`).

use crate::printer::Printer;

/// Print the completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell, printer: Printer) -> anyhow::Result<()> {
    printer.raw(&crate::complete::script(shell)?);
    Ok(())
}
