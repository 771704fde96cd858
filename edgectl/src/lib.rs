//! `edgectl`, the engineer's tool: validate Margo documents and packages today;
//! the app store, deployments, status and the live TUI as the suite grows.
//!
//! The binary is a thin shell over [`run`], so tests can call it in-process.
//! Arguments are parsed once (`cli`), each subcommand lives in its own file
//! under `cmd/`, and everything meant for stdout goes through the one
//! `Printer`. Exit codes: 0 success, 1 the operation failed (for example an
//! invalid document), 2 usage error.

mod cli;
mod cmd;
mod complete;
mod contexts;
mod credentials;
mod printer;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser as _;

pub use cli::Cli;
pub use complete::script as completion_script;
use printer::Printer;

/// Exit code when the operation failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for usage errors.
pub const EXIT_USAGE: u8 = 2;

/// Answer the shell when it asks for completions (`COMPLETE=SHELL` in the
/// environment; the process then exits); otherwise return at once.
pub fn complete_if_asked() {
    use clap::CommandFactory as _;
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
}

/// Parse `args` and run the command; returns the process exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout and errors to stderr.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let printer = Printer::new(cli.output);
    match cmd::dispatch(cli, &printer) {
        Ok(code) => code,
        Err(e) => {
            printer.error(&format!("{e:#}"));
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
    }
}

/// A usage error found after parsing (a required value missing off a
/// terminal, a `NAME=VALUE` without `=`): exit status 2, as clap's own.
#[derive(Debug)]
pub(crate) struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Return early with a [`Usage`] error.
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::Usage(format!($($arg)*))))
    };
}
pub(crate) use usage;
