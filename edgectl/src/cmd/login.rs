//! `edgectl login`: check a server URL and token, then remember them.

use std::io::{BufRead as _, IsTerminal as _};
use std::process::ExitCode;

use anyhow::Context as _;
use edge_api::routes;
use edge_api::types::ServerStatus;

use crate::credentials::{self, Saved};
use crate::printer::Printer;

/// Verify `server` + `token` against `/api/status` and save them.
pub(crate) fn login(
    server: Option<String>,
    token_file: Option<&std::path::Path>,
    ca_file: Option<&std::path::Path>,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    let server = server
        .or_else(credentials::stored_server)
        .context("give the server: `edgectl login --server https://HOST:PORT`")?;
    let ca = match ca_file {
        Some(path) => Some(credentials::read_ca(path)?),
        None => credentials::stored_ca(&server),
    };
    let token = match credentials::given_token(token_file)? {
        Some(t) => t,
        None => {
            if std::io::stdin().is_terminal() {
                printer.warn_progress("paste the token (the content of `admin.token` in the CO's data directory), then press Enter:");
            }
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the token from standard input")?;
            line.trim().to_owned()
        }
    };
    anyhow::ensure!(
        !token.is_empty(),
        "no token given: pass `--token-file FILE`, set `EDGE_TOKEN`, or pipe it on standard input"
    );
    let client = edge_api::Client::with_ca(&server, Some(token.clone()), ca.as_deref())?;
    let status: ServerStatus = client.get(routes::STATUS)?;
    if let (Some(pem), Some(_)) = (&ca, ca_file) {
        credentials::save_ca(client.server(), pem)?;
    }
    match credentials::save(client.server(), &token)? {
        Saved::Keyring => {}
        Saved::File(path) => printer.warn(&format!(
            "no usable kernel keyring (run inside `keyctl session` to use one); the token is in `{}` (mode 0600)",
            path.display()
        )),
    }
    printer.line(&format!(
        "logged in to {} (edged {})",
        client.server(),
        status.version
    ));
    printer.data(&serde_json::json!({ "server": client.server(), "version": status.version }));
    Ok(ExitCode::SUCCESS)
}
