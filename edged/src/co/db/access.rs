//! The `tokens` and `audit` tables: north API tokens (by name, with their
//! scope and the SHA-256 of the secret, never the secret) and the append-only
//! log of every change asked of the north API and every refused request.

use rusqlite::{Connection, OptionalExtension as _, params};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    peer TEXT NOT NULL
);
";

/// One stored token. `key` is the public part of the token that finds the
/// row; `hash` the hex SHA-256 of the whole token.
#[derive(Debug, Clone)]
pub(crate) struct TokenRow {
    pub(crate) name: String,
    pub(crate) key: String,
    pub(crate) hash: String,
    pub(crate) scope: String,
    pub(crate) created_at: String,
    pub(crate) created_by: String,
    pub(crate) revoked_at: Option<String>,
}

const TOKEN_COLUMNS: &str = "name, key, hash, scope, created_at, created_by, revoked_at";

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        name: r.get(0)?,
        key: r.get(1)?,
        hash: r.get(2)?,
        scope: r.get(3)?,
        created_at: r.get(4)?,
        created_by: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

/// Store a new token; false when the name is taken.
pub(crate) fn insert_token(c: &Connection, t: &TokenRow) -> rusqlite::Result<bool> {
    let n = c.execute(
        &format!(
            "INSERT OR IGNORE INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ),
        params![
            t.name,
            t.key,
            t.hash,
            t.scope,
            t.created_at,
            t.created_by,
            t.revoked_at
        ],
    )?;
    Ok(n == 1)
}

/// The token whose public key part is `key`.
pub(crate) fn token_by_key(c: &Connection, key: &str) -> rusqlite::Result<Option<TokenRow>> {
    c.query_row(
        &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE key = ?1"),
        [key],
        token_row,
    )
    .optional()
}

/// Every token, by name.
pub(crate) fn tokens(c: &Connection) -> rusqlite::Result<Vec<TokenRow>> {
    let mut s = c.prepare(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY name"))?;
    s.query_map([], token_row)?.collect()
}

/// Revoke the token `name`; `None` when there is no such token, else
/// whether it was still valid.
pub(crate) fn revoke_token(c: &Connection, name: &str, at: &str) -> rusqlite::Result<Option<bool>> {
    let n = c.execute(
        "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
        params![name, at],
    )?;
    if n == 1 {
        return Ok(Some(true));
    }
    let known = c
        .query_row("SELECT 1 FROM tokens WHERE name = ?1", [name], |_| Ok(()))
        .optional()?;
    Ok(known.map(|()| false))
}

/// One audit entry, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuditRow {
    pub(crate) seq: i64,
    pub(crate) at: String,
    pub(crate) actor: String,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) peer: String,
}

/// Append to the audit log (`seq` is assigned).
pub(crate) fn append_audit(c: &Connection, e: &AuditRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO audit (at, actor, method, path, status, peer) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![e.at, e.actor, e.method, e.path, e.status, e.peer],
    )?;
    Ok(())
}

/// The newest `limit` entries after `after` (0: from the start), oldest first.
pub(crate) fn audit(c: &Connection, after: i64, limit: u32) -> rusqlite::Result<Vec<AuditRow>> {
    let mut s = c.prepare(
        "SELECT seq, at, actor, method, path, status, peer FROM
           (SELECT * FROM audit WHERE seq > ?1 ORDER BY seq DESC LIMIT ?2)
         ORDER BY seq",
    )?;
    s.query_map(params![after, limit], |r| {
        Ok(AuditRow {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            method: r.get(3)?,
            path: r.get(4)?,
            status: r.get(5)?,
            peer: r.get(6)?,
        })
    })?
    .collect()
}
