//! Subcommands: one file each, dispatched by one flat match.

mod completions;
mod validate;

use std::process::ExitCode;

use crate::cli::Command;
use crate::printer::Printer;

/// Run one command.
pub(crate) fn dispatch(command: Command, printer: &Printer) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate(args) => Ok(validate::validate(&args, *printer)),
        Command::Completions { shell } => {
            completions::completions(shell, *printer);
            Ok(ExitCode::SUCCESS)
        }
    }
}
