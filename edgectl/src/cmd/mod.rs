//! Subcommands: one file each, dispatched by one flat match.

mod access;
mod apply;
mod ask;
mod ca;
mod co;
mod completions;
mod deploy;
mod detail;
mod en;
mod list;
mod login;
mod package;
mod remote;
mod remove;
mod rollback;
mod rollout;
mod stick;
mod tui;
mod undeploy;
mod validate;
mod wait;
mod watch;

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{Cli, Command, LoCommand};
use crate::printer::Printer;
use crate::{contexts, credentials};

/// Run one command.
pub(crate) fn dispatch(cli: Cli, printer: &Printer) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate::validate(&args, *printer),
        Command::Completions { shell } => {
            completions::completions(shell, *printer)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Login => login::login(
            cli.server,
            cli.context.as_deref(),
            cli.token_file.as_deref(),
            cli.ca_file.as_deref(),
            *printer,
        ),
        Command::Logout => login::logout(cli.context.as_deref(), *printer),
        Command::Config(command) => login::config(command, *printer),
        Command::Version { client: only } => {
            let api = client(
                cli.server,
                cli.context.as_deref(),
                cli.token_file.as_deref(),
                cli.ca_file.as_deref(),
            );
            login::version(api, only, *printer)
        }
        Command::Package(command) => package::package(command, *printer),
        Command::En(args) => en::en(args, *printer),
        Command::Lo(LoCommand::Import {
            dir,
            data,
            credentials,
        }) => {
            stick::import(&dir, &data, credentials.as_deref(), *printer)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Lo(LoCommand::ExportStatus { data, to }) => {
            stick::export_status(&data, &to, *printer)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tui { en_data } => {
            tui::tui(
                client(
                    cli.server,
                    cli.context.as_deref(),
                    cli.token_file.as_deref(),
                    cli.ca_file.as_deref(),
                )?,
                en_data,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Co(command) => {
            let client = client(
                cli.server,
                cli.context.as_deref(),
                cli.token_file.as_deref(),
                cli.ca_file.as_deref(),
            )?;
            co::co(*command, &client, *printer)
        }
    }
}

/// The API client: the server from `--server`/`EDGE_SERVER`, else from the
/// context `--context`/`EDGE_CONTEXT` names, else from the current one; the
/// token from `--token-file`/`EDGE_TOKEN`, else the one saved for that server.
fn client(
    server: Option<String>,
    context: Option<&str>,
    token_file: Option<&std::path::Path>,
    ca_file: Option<&std::path::Path>,
) -> anyhow::Result<edge_api::Client> {
    let server = match server {
        Some(s) => s,
        None => contexts::server(context)?.context(
            "no server given: pass `--server URL`, set `EDGE_SERVER`, or run `edgectl login --server URL` once",
        )?,
    };
    let token = match credentials::given_token(token_file)? {
        Some(t) => Some(t),
        None => credentials::stored_token(&server),
    };
    let ca = match ca_file {
        Some(path) => Some(credentials::read_ca(path)?),
        None => credentials::stored_ca(&server),
    };
    Ok(edge_api::Client::with_ca(&server, token, ca.as_deref())?)
}
