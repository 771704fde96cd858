//! Who may do what on the north API: the bearer token of each request is
//! resolved to a caller (the bootstrap `admin.token`, or a named token with a
//! scope), each route needs a scope, and every change or refusal is written to
//! the audit log. Named tokens are `edgt_KEY_SECRET`: the key finds the row,
//! the CO keeps only the SHA-256 of the whole token, and the secret is shown
//! once, when it is made.

use edge_api::routes;
use edge_api::types::{AuditEntry, CreateToken, CreatedToken, Scope, TokenInfo};
use edge_model::digest::sha256;

use crate::co::db::access::{self as db, AuditRow, TokenRow};
use crate::co::store::Store;
use crate::error::ApiError;

/// The actor name of the bootstrap token in `admin.token`.
pub(crate) const BOOTSTRAP: &str = "admin.token";
/// The prefix of named tokens.
const PREFIX: &str = "edgt_";
/// At most this many audit entries in one answer.
pub(crate) const MAX_AUDIT_PAGE: u32 = 1000;

/// The caller of a north request whose token was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The token's name (`admin.token` for the bootstrap token).
    pub(crate) actor: String,
    /// What it may do.
    pub(crate) scope: Scope,
}

/// Resolve a bearer token; `None` when it is unknown, malformed or revoked.
/// The comparison is of SHA-256 digests, in constant time.
pub(crate) fn authenticate(store: &Store, given: &str) -> Option<Caller> {
    let given = given.trim();
    if given.is_empty() || given.len() > 256 {
        return None;
    }
    let hash = sha256(given.as_bytes()).as_str().to_owned();
    if constant_time_eq(hash.as_bytes(), store.token_hash.as_bytes()) {
        return Some(Caller {
            actor: BOOTSTRAP.to_owned(),
            scope: Scope::Admin,
        });
    }
    let key = given.strip_prefix(PREFIX)?.split_once('_')?.0;
    let row = db::token_by_key(&store.db(), key).ok()??;
    if row.revoked_at.is_some() || !constant_time_eq(hash.as_bytes(), row.hash.as_bytes()) {
        return None;
    }
    Some(Caller {
        actor: row.name,
        scope: parse_scope(&row.scope)?,
    })
}

/// The scope a request needs: reads need `read`; changing what runs (and
/// carrying a site to or from a stick) needs `deploy`; the app store, sites,
/// devices, identities, tokens and the audit log need `admin`. `route` is
/// the matched route pattern (the path itself for an unmatched request).
pub(crate) fn required_scope(method: &str, route: &str) -> Scope {
    let read = matches!(method, "GET" | "HEAD");
    match route {
        routes::TOKENS | routes::TOKEN | routes::AUDIT => Scope::Admin,
        routes::SITE_EXPORT | routes::SITE_EXPORT_GIT | routes::SITE_EXPORT_BLOB => Scope::Deploy,
        _ if read => Scope::Read,
        routes::DEPLOYMENTS
        | routes::DEPLOYMENTS_UPDATE
        | routes::APPLY
        | routes::DEPLOYMENT
        | routes::DEPLOYMENT_RESTART
        | routes::SITE_ROLLBACK
        | routes::ROLLOUT_ACTION
        | routes::SITE_LABELS
        | routes::DEVICE_LABELS
        | routes::SITE_INTAKE => Scope::Deploy,
        _ => Scope::Admin,
    }
}

/// Whether a request belongs in the audit log: every change, and every
/// refused one (401, 403).
pub(crate) fn audited(method: &str, status: u16) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS") || matches!(status, 401 | 403)
}

/// Append one entry to the audit log. A failure to write it is logged, not
/// hidden: the request has already been answered.
pub(crate) fn record(store: &Store, entry: AuditRow) {
    if let Err(e) = db::append_audit(&store.db(), &entry) {
        tracing::error!(error = %e, actor = %entry.actor, path = %entry.path, "cannot write the audit log");
    }
}

/// The audit log after `after`, at most `limit` entries, oldest first.
pub(crate) fn audit(store: &Store, after: u64, limit: u32) -> Result<Vec<AuditEntry>, ApiError> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let rows = db::audit(&store.db(), after, limit.clamp(1, MAX_AUDIT_PAGE))?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            seq: u64::try_from(r.seq).unwrap_or(0),
            at: r.at,
            actor: r.actor,
            method: r.method,
            path: r.path,
            status: r.status,
            peer: r.peer,
        })
        .collect())
}

/// Make a named token; its secret is in the answer and nowhere else.
pub(crate) fn create(
    store: &Store,
    req: &CreateToken,
    by: &Caller,
) -> Result<CreatedToken, ApiError> {
    if !name_ok(&req.name) {
        return Err(ApiError::bad_request(format!(
            "token name `{}` is not usable: use 1 to 63 letters, digits, `.`, `_` or `-`",
            req.name
        )));
    }
    if req.name == BOOTSTRAP {
        return Err(ApiError::conflict(format!(
            "`{BOOTSTRAP}` names the bootstrap token; choose another name"
        )));
    }
    let key = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let token = format!("{PREFIX}{key}_{secret}");
    let row = TokenRow {
        name: req.name.clone(),
        key,
        hash: sha256(token.as_bytes()).as_str().to_owned(),
        scope: req.scope.as_str().to_owned(),
        created_at: crate::clock::now(),
        created_by: by.actor.clone(),
        revoked_at: None,
    };
    if !db::insert_token(&store.db(), &row)? {
        return Err(ApiError::conflict(format!(
            "a token named `{}` exists; revoke it or choose another name",
            req.name
        )));
    }
    tracing::info!(name = %row.name, scope = %row.scope, by = %by.actor, "token created");
    Ok(CreatedToken {
        info: info(row)?,
        token,
    })
}

/// Every named token (never a secret).
pub(crate) fn list(store: &Store) -> Result<Vec<TokenInfo>, ApiError> {
    db::tokens(&store.db())?.into_iter().map(info).collect()
}

/// Revoke the token `name`: its next request is refused.
pub(crate) fn revoke(store: &Store, name: &str) -> Result<TokenInfo, ApiError> {
    let conn = store.db();
    match db::revoke_token(&conn, name, &crate::clock::now())? {
        None => Err(ApiError::not_found(format!("no token named `{name}`"))),
        Some(_) => {
            let row = db::tokens(&conn)?
                .into_iter()
                .find(|t| t.name == name)
                .ok_or_else(|| ApiError::not_found(format!("no token named `{name}`")))?;
            tracing::info!(name, "token revoked");
            info(row)
        }
    }
}

fn info(row: TokenRow) -> Result<TokenInfo, ApiError> {
    let scope = parse_scope(&row.scope).ok_or_else(|| {
        ApiError::internal(&anyhow::anyhow!(
            "token `{}` has an unknown scope `{}` in the database",
            row.name,
            row.scope
        ))
    })?;
    Ok(TokenInfo {
        name: row.name,
        scope,
        created_at: row.created_at,
        created_by: row.created_by,
        revoked_at: row.revoked_at,
    })
}

fn parse_scope(s: &str) -> Option<Scope> {
    [Scope::Read, Scope::Deploy, Scope::Admin]
        .into_iter()
        .find(|x| x.as_str() == s)
}

fn name_ok(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Equal bytes, compared in time that depends only on the length.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_need_read_changes_need_deploy_or_admin() {
        assert_eq!(required_scope("GET", routes::APPS), Scope::Read);
        assert_eq!(required_scope("GET", routes::EVENTS), Scope::Read);
        assert_eq!(required_scope("POST", routes::DEPLOYMENTS), Scope::Deploy);
        assert_eq!(
            required_scope("POST", routes::DEPLOYMENTS_UPDATE),
            Scope::Deploy
        );
        assert_eq!(required_scope("DELETE", routes::DEPLOYMENT), Scope::Deploy);
        assert_eq!(required_scope("GET", routes::DEPLOYMENT), Scope::Read);
        assert_eq!(required_scope("POST", routes::SITE_ROLLBACK), Scope::Deploy);
        assert_eq!(
            required_scope("POST", routes::ROLLOUT_ACTION),
            Scope::Deploy
        );
        assert_eq!(required_scope("GET", routes::ROLLOUTS), Scope::Read);
        assert_eq!(required_scope("POST", routes::APPS), Scope::Admin);
        assert_eq!(required_scope("DELETE", routes::APP), Scope::Admin);
        assert_eq!(required_scope("POST", routes::ENROLLMENTS), Scope::Admin);
        assert_eq!(required_scope("POST", routes::REVOCATIONS), Scope::Admin);
        // Removing a site or a device revokes identities: admin, as adding them.
        assert_eq!(required_scope("DELETE", routes::SITE), Scope::Admin);
        assert_eq!(required_scope("DELETE", routes::DEVICE), Scope::Admin);
        assert_eq!(required_scope("GET", routes::TOKENS), Scope::Admin);
        assert_eq!(required_scope("GET", routes::AUDIT), Scope::Admin);
        assert_eq!(required_scope("GET", routes::SITE_EXPORT), Scope::Deploy);
        assert_eq!(required_scope("PATCH", "/nowhere"), Scope::Admin);
        assert!(Scope::Read < Scope::Deploy && Scope::Deploy < Scope::Admin);
    }

    #[test]
    fn changes_and_refusals_are_audited_reads_are_not() {
        assert!(audited("POST", 201));
        assert!(audited("DELETE", 404));
        assert!(audited("GET", 401));
        assert!(audited("GET", 403));
        assert!(!audited("GET", 200));
        assert!(!audited("HEAD", 404));
    }

    #[test]
    fn equal_only_when_every_byte_is() {
        assert!(constant_time_eq(b"sha256:ab", b"sha256:ab"));
        assert!(!constant_time_eq(b"sha256:ab", b"sha256:ac"));
        assert!(!constant_time_eq(b"sha256:ab", b"sha256:a"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn token_names() {
        assert!(name_ok("ci-deployer.1"));
        assert!(!name_ok(""));
        assert!(!name_ok("a b"));
        assert!(!name_ok(&"x".repeat(64)));
    }
}
