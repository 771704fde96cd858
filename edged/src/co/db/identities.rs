//! The `identities` table: every certificate the CO issued (by SHA-256
//! fingerprint), whom it names and when it was revoked. The keys are never
//! stored.

use rusqlite::{Connection, OptionalExtension as _, params};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS identities (
    fingerprint TEXT PRIMARY KEY,
    spiffe_id TEXT NOT NULL,
    site TEXT NOT NULL,
    device TEXT,
    issued_at TEXT NOT NULL,
    not_after TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS identities_by_holder ON identities (site, device);
";

/// One issued identity.
#[derive(Debug, Clone)]
pub(crate) struct IdentityRow {
    pub(crate) fingerprint: String,
    pub(crate) spiffe_id: String,
    pub(crate) site: String,
    pub(crate) device: Option<String>,
    pub(crate) issued_at: String,
    pub(crate) not_after: String,
    pub(crate) revoked_at: Option<String>,
}

const IDENTITY_COLUMNS: &str =
    "fingerprint, spiffe_id, site, device, issued_at, not_after, revoked_at";

fn identity_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IdentityRow> {
    Ok(IdentityRow {
        fingerprint: r.get(0)?,
        spiffe_id: r.get(1)?,
        site: r.get(2)?,
        device: r.get(3)?,
        issued_at: r.get(4)?,
        not_after: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

pub(crate) fn insert_identity(c: &Connection, i: &IdentityRow) -> rusqlite::Result<()> {
    c.execute(
        &format!("INSERT INTO identities ({IDENTITY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            i.fingerprint,
            i.spiffe_id,
            i.site,
            i.device,
            i.issued_at,
            i.not_after,
            i.revoked_at
        ],
    )?;
    Ok(())
}

pub(crate) fn identity(c: &Connection, fingerprint: &str) -> rusqlite::Result<Option<IdentityRow>> {
    c.query_row(
        &format!("SELECT {IDENTITY_COLUMNS} FROM identities WHERE fingerprint = ?1"),
        [fingerprint],
        identity_row,
    )
    .optional()
}

/// The newest identity issued to each device (of `site`, when given), by
/// device id: the one in use, since enrolling again revokes the earlier.
pub(crate) fn newest_of_devices(
    c: &Connection,
    site: Option<&str>,
) -> rusqlite::Result<std::collections::HashMap<String, IdentityRow>> {
    let mut st = c.prepare(&format!(
        "SELECT {IDENTITY_COLUMNS} FROM identities WHERE device IS NOT NULL AND (?1 IS NULL OR site = ?1) ORDER BY issued_at, rowid"
    ))?;
    let mut out = std::collections::HashMap::new();
    for row in st.query_map([site], identity_row)? {
        let row = row?;
        if let Some(device) = row.device.clone() {
            // Later rows are newer: the last one stays.
            out.insert(device, row);
        }
    }
    Ok(out)
}

/// Revoke every active identity of `site` (its LO when `device` is `None`).
pub(crate) fn revoke(
    c: &Connection,
    site: &str,
    device: Option<&str>,
    now: &str,
) -> rusqlite::Result<usize> {
    match device {
        Some(d) => c.execute(
            "UPDATE identities SET revoked_at = ?3 WHERE site = ?1 AND device = ?2 AND revoked_at IS NULL",
            params![site, d, now],
        ),
        None => c.execute(
            "UPDATE identities SET revoked_at = ?2 WHERE site = ?1 AND device IS NULL AND revoked_at IS NULL",
            params![site, now],
        ),
    }
}

/// Whether device `device` ever held an identity of `site` (revoked or
/// not): a device removed from the site since, when the CO knows it no more.
pub(crate) fn ever_held(c: &Connection, site: &str, device: &str) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT 1 FROM identities WHERE site = ?1 AND device = ?2 LIMIT 1")?
        .query_row(params![site, device], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}

/// The fingerprints of `site`'s revoked device certificates, sorted (what
/// its LO refuses).
pub(crate) fn revoked_devices(c: &Connection, site: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(
        "SELECT fingerprint FROM identities WHERE site = ?1 AND device IS NOT NULL AND revoked_at IS NOT NULL ORDER BY fingerprint",
    )?;
    st.query_map([site], |r| r.get(0))?.collect()
}

/// The fingerprints of the unrevoked device certificates the CO issued for
/// `site`, sorted (the only devices its LO accepts).
pub(crate) fn issued_devices(c: &Connection, site: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(
        "SELECT fingerprint FROM identities WHERE site = ?1 AND device IS NOT NULL AND revoked_at IS NULL ORDER BY fingerprint",
    )?;
    st.query_map([site], |r| r.get(0))?.collect()
}

/// Revoke every active certificate of `spiffe_id` (the earlier ones of an
/// identity enrolled again); how many.
pub(crate) fn revoke_spiffe_id(
    c: &Connection,
    spiffe_id: &str,
    now: &str,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE identities SET revoked_at = ?2 WHERE spiffe_id = ?1 AND revoked_at IS NULL",
        params![spiffe_id, now],
    )
}

/// How many identities issued before `before` are unrevoked and valid at
/// `now` (both RFC 3339 UTC, which compare as text).
pub(crate) fn valid_issued_before(
    c: &Connection,
    before: &str,
    now: &str,
) -> rusqlite::Result<u64> {
    c.query_row(
        "SELECT COUNT(*) FROM identities WHERE revoked_at IS NULL AND issued_at < ?1 AND not_after > ?2",
        params![before, now],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| u64::try_from(n).unwrap_or(0))
}
