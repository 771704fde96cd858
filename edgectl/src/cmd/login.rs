//! `edgectl login`, `logout` and `version`: check a server URL and token and
//! remember them as a context, forget them, and show what runs where.

use std::io::BufRead as _;
use std::process::ExitCode;

use anyhow::Context as _;
use edge_api::routes;
use edge_api::types::ServerStatus;

use crate::cli::ConfigCommand;
use crate::contexts;
use crate::credentials::{self, Saved};
use crate::printer::Printer;

/// Verify `server` + `token` against `/api/status` and save them.
pub(crate) fn login(
    server: Option<String>,
    context: Option<&str>,
    token_file: Option<&std::path::Path>,
    ca_file: Option<&std::path::Path>,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    let config = contexts::load()?;
    let server = match server {
        Some(s) => s,
        // A saved context logs in again (a new token) under its own name.
        None => config
            .server(context)?
            .context("give the server: `edgectl login --server https://HOST:PORT`")?,
    };
    let name = context.map_or_else(|| contexts::name_for(&server), str::to_owned);
    contexts::check_name(&name)?;
    let ca = match ca_file {
        Some(path) => Some(credentials::read_ca(path)?),
        None => credentials::stored_ca(&server),
    };
    let token = match credentials::given_token(token_file)? {
        Some(t) => t,
        None if super::ask::interactive() => {
            // Read with echo off, as for a password: a pasted token must not
            // stay on the screen or in the terminal's scroll-back.
            dialoguer::Password::new()
                .with_prompt(
                    "Token (the content of `admin.token` in the CO's data folder; not shown)",
                )
                .allow_empty_password(true)
                .interact()
                .context("cannot read the token on this terminal")?
                .trim()
                .to_owned()
        }
        None => {
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
    contexts::remember(&name, client.server())?;
    match credentials::save(client.server(), &token)? {
        Saved::Keyring => {}
        Saved::File(path) => printer.warn(&format!(
            "no usable kernel keyring (run inside `keyctl session` to use one); the token is in `{}` (mode 0600)",
            path.display()
        )),
    }
    printer.line(&format!(
        "logged in to {} (edged {}) as context `{name}`, now the current one",
        client.server(),
        status.version
    ));
    printer.data(&serde_json::json!({
        "server": client.server(),
        "version": status.version,
        "context": name,
    }));
    Ok(ExitCode::SUCCESS)
}

/// Forget the login of context `chosen` (default: the current one).
pub(crate) fn logout(chosen: Option<&str>, printer: Printer) -> anyhow::Result<ExitCode> {
    let config = contexts::load()?;
    let name = chosen
        .map(str::to_owned)
        .or_else(|| config.current_context.clone())
        .context(
            "not logged in: there is no current context (see `edgectl config get-contexts`)",
        )?;
    let (saved, shared) = contexts::forget(&name)?;
    if !shared {
        credentials::forget(&saved.server)?;
    }
    printer.line(&format!(
        "logged out of {} (context `{name}` forgotten{})",
        saved.server,
        if shared {
            "; its token stays for the other contexts naming that server"
        } else {
            ", with its token"
        }
    ));
    printer.data(&serde_json::json!({ "context": name, "server": saved.server }));
    Ok(ExitCode::SUCCESS)
}

/// Print edgectl's version and, unless `client_only`, the server's.
pub(crate) fn version(
    client: anyhow::Result<edge_api::Client>,
    client_only: bool,
    printer: Printer,
) -> anyhow::Result<ExitCode> {
    let mine = env!("CARGO_PKG_VERSION");
    printer.line(&format!("edgectl {mine}"));
    let mut out = serde_json::json!({ "client": { "version": mine } });
    if client_only {
        printer.data(&out);
        return Ok(ExitCode::SUCCESS);
    }
    let answer = client.and_then(|c| {
        let status: ServerStatus = c.get(routes::STATUS)?;
        Ok((c.server().to_owned(), status))
    });
    let code = match answer {
        Ok((server, status)) => {
            printer.line(&format!("edged {} at {server}", status.version));
            out["server"] = serde_json::json!({ "version": status.version, "url": server });
            ExitCode::SUCCESS
        }
        Err(e) => {
            printer.line(&format!("server: not reachable: {e:#}"));
            out["server"] = serde_json::json!({ "error": format!("{e:#}") });
            ExitCode::from(crate::EXIT_FAILURE)
        }
    };
    printer.data(&out);
    Ok(code)
}

/// `edgectl config …`.
pub(crate) fn config(command: ConfigCommand, printer: Printer) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::GetContexts => {
            let config = contexts::load()?;
            let current = config.current_context.as_deref();
            let rows: Vec<Vec<String>> = config
                .contexts
                .iter()
                .map(|(name, c)| {
                    let mark = if Some(name.as_str()) == current {
                        "*"
                    } else {
                        ""
                    };
                    vec![mark.to_owned(), name.clone(), c.server.clone()]
                })
                .collect();
            if rows.is_empty() {
                printer.warn("no saved logins; `edgectl login --server URL` saves one");
            }
            printer.table(&["CURRENT", "NAME", "SERVER"], &rows);
            let list: Vec<serde_json::Value> = config
                .contexts
                .iter()
                .map(|(name, c)| {
                    serde_json::json!({
                        "name": name,
                        "server": c.server,
                        "current": Some(name.as_str()) == current,
                    })
                })
                .collect();
            printer.data(&list);
        }
        ConfigCommand::UseContext { name } => {
            let saved = contexts::use_context(&name)?;
            printer.line(&format!("switched to context `{name}` ({})", saved.server));
            printer.data(&serde_json::json!({ "context": name, "server": saved.server }));
        }
        ConfigCommand::CurrentContext => {
            let config = contexts::load()?;
            let name = config.current_context.context(
                "there is no current context; `edgectl config use-context NAME` picks one",
            )?;
            printer.line(&name);
            printer.data(&serde_json::json!({ "context": name }));
        }
    }
    Ok(ExitCode::SUCCESS)
}
