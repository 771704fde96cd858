//! `edgectl co token …` and `edgectl co audit`: named API tokens with a
//! scope, and the CO's audit log.

use edge_api::Client;
use edge_api::routes::{self, fill};
use edge_api::types::{AuditEntry, CreateToken, CreatedToken, Scope, TokenInfo};

use crate::cli::{ScopeArg, TokenCommand};
use crate::printer::Printer;

/// Run one `co token` command.
pub(crate) fn token(
    client: &Client,
    printer: Printer,
    command: TokenCommand,
) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { name, scope } => {
            let scope = match scope {
                ScopeArg::Read => Scope::Read,
                ScopeArg::Deploy => Scope::Deploy,
                ScopeArg::Admin => Scope::Admin,
            };
            let made: CreatedToken = client.post(routes::TOKENS, &CreateToken { name, scope })?;
            // The token alone on stdout, so `> FILE` keeps just the token.
            printer.warn_progress(&format!(
                "token `{}` (scope {}) created; it is shown only now:",
                made.info.name,
                made.info.scope.as_str()
            ));
            printer.line(&made.token);
            printer.data(&made);
        }
        TokenCommand::List => {
            let tokens: Vec<TokenInfo> = client.get(routes::TOKENS)?;
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.scope.as_str().to_owned(),
                        t.created_at.clone(),
                        t.created_by.clone(),
                        t.revoked_at.clone().unwrap_or_else(|| "-".to_owned()),
                    ]
                })
                .collect();
            printer.table(&["NAME", "SCOPE", "CREATED", "BY", "REVOKED"], &rows);
            printer.data(&tokens);
        }
        TokenCommand::Revoke { name } => {
            let t: TokenInfo = client.delete_json(&fill(routes::TOKEN, &name))?;
            printer.line(&format!("token `{}` revoked", t.name));
            printer.data(&t);
        }
    }
    Ok(())
}

/// `edgectl co audit`.
pub(crate) fn audit(
    client: &Client,
    printer: Printer,
    limit: u32,
    after: Option<u64>,
) -> anyhow::Result<()> {
    let mut path = format!("{}?limit={limit}", routes::AUDIT);
    if let Some(after) = after {
        path.push_str(&format!("&after={after}"));
    }
    let entries: Vec<AuditEntry> = client.get(&path)?;
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.seq.to_string(),
                e.at.clone(),
                e.actor.clone(),
                format!("{} {}", e.method, e.path),
                e.status.to_string(),
                e.peer.clone(),
            ]
        })
        .collect();
    printer.table(&["SEQ", "AT", "WHO", "WHAT", "STATUS", "FROM"], &rows);
    printer.data(&entries);
    Ok(())
}
