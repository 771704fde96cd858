//! Subcommands: one file each, dispatched by one flat match.

mod ask;
mod co;
mod completions;
mod en;
mod login;
mod package;
mod stick;
mod tui;
mod undeploy;
mod validate;
mod wait;
mod watch;

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{Cli, Command, LoCommand};
use crate::credentials;
use crate::printer::Printer;

/// Run one command.
pub(crate) fn dispatch(cli: Cli, printer: &Printer) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => Ok(validate::validate(&args, *printer)),
        Command::Completions { shell } => {
            completions::completions(shell, *printer);
            Ok(ExitCode::SUCCESS)
        }
        Command::Login => login::login(cli.server, cli.token, *printer),
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
            tui::tui(client(cli.server, cli.token)?, en_data)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Co(command) => {
            let client = client(cli.server, cli.token)?;
            co::co(command, &client, *printer)
        }
    }
}

/// The API client: server and token from flags or `EDGE_SERVER`/`EDGE_TOKEN`,
/// else from `edgectl login`.
fn client(server: Option<String>, token: Option<String>) -> anyhow::Result<edge_api::Client> {
    let server = server.or_else(credentials::stored_server).context(
        "no server given: pass `--server URL`, set `EDGE_SERVER`, or run `edgectl login --server URL` once",
    )?;
    let token = token.or_else(|| credentials::stored_token(&server));
    Ok(edge_api::Client::new(&server, token)?)
}
