//! The storage of an LO's outbox: the capabilities and status reports of
//! its edge nodes, kept in the LO's database (`DATA/`[`DB`]) until the CO
//! has stored them. This crate owns the `outbox` table and the outbox's
//! identity in the `meta` table (its epoch and site); no other code writes
//! SQL against them.
//!
//! The LO (`edged`) queues and forwards through [`Outbox`] and its
//! connection; `edgectl lo export-status` reads what waits with
//! [`read_waiting`], for a site stick to carry to the CO. The rules about
//! what to do when the outbox is full live with the LO; this crate only
//! stores, counts and reads.

use std::path::Path;
use std::time::Duration;

use edge_api::types::IntakeEntry;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, params};

/// The LO's database file in its data folder.
pub const DB: &str = "lo.db";

/// The tables this crate owns.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    grp TEXT NOT NULL,
    subject TEXT NOT NULL,
    device TEXT NOT NULL,
    body TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    digest TEXT
);
CREATE INDEX IF NOT EXISTS outbox_subject ON outbox (grp, subject, seq);
";

/// Bring an outbox made by an earlier release up to [`SCHEMA`] (the
/// `digest` column). Run after [`SCHEMA`].
///
/// # Errors
/// When the database fails.
pub fn migrate(c: &Connection) -> Result<(), OutboxError> {
    let has: i64 = c.query_row(
        "SELECT count(*) FROM pragma_table_info('outbox') WHERE name = 'digest'",
        [],
        |r| r.get(0),
    )?;
    if has == 0 {
        c.execute_batch("ALTER TABLE outbox ADD COLUMN digest TEXT")?;
    }
    Ok(())
}

/// Bytes an entry counts beyond its body.
pub const ENTRY_OVERHEAD: u64 = 128;

/// Why the outbox could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The database failed.
    #[error("the outbox database failed")]
    Sql(#[from] rusqlite::Error),
    /// The data folder holds no LO database.
    #[error("`{0}` holds no LO database (`lo.db`); name the data folder of an LO that has run")]
    NoDatabase(String),
    /// The database cannot be opened.
    #[error("cannot open `{path}`")]
    Open {
        /// The database file.
        path: String,
        /// Why.
        source: rusqlite::Error,
    },
    /// The database does not name its site or epoch yet.
    #[error("`{path}` has no `{key}`: start this LO once with its credentials")]
    Unnamed {
        /// The database file.
        path: String,
        /// `site` or `epoch`.
        key: &'static str,
    },
}

/// One report to queue.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    /// `capabilities`, `capabilities-deleted` or `status`.
    pub kind: &'a str,
    /// What a newer report of the same group supersedes (a deployment, a
    /// device).
    pub subject: &'a str,
    /// The reporting device.
    pub device: &'a str,
    /// The document as sent (JSON text); empty for deletions.
    pub body: &'a str,
    /// When the LO received it (RFC 3339).
    pub received_at: &'a str,
    /// For a status report: the digest of the deployment document the
    /// device acted on, when the LO can tell.
    pub digest: Option<&'a str>,
}

impl NewEntry<'_> {
    /// The bytes it counts against the outbox's bound.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.body.len() as u64 + ENTRY_OVERHEAD
    }

    /// The group within which a newer report supersedes an older one of
    /// the same subject.
    fn group(&self) -> &'static str {
        if self.kind.starts_with("capabilities") {
            "capabilities"
        } else {
            "status"
        }
    }
}

/// The outbox in an open LO database.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outbox;

impl Outbox {
    /// Bytes the queued entries count.
    ///
    /// # Errors
    /// When the database fails.
    pub fn used(c: &Connection) -> Result<u64, OutboxError> {
        let n: i64 = c.query_row("SELECT COALESCE(SUM(bytes), 0) FROM outbox", [], |r| {
            r.get(0)
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Entries queued.
    ///
    /// # Errors
    /// When the database fails.
    pub fn count(c: &Connection) -> Result<u64, OutboxError> {
        let n: i64 = c.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Queue `entry` (in the caller's transaction).
    ///
    /// # Errors
    /// When the database fails.
    pub fn insert(c: &Connection, entry: &NewEntry<'_>) -> Result<(), OutboxError> {
        c.execute(
            "INSERT INTO outbox (kind, grp, subject, device, body, bytes, received_at, digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                entry.kind,
                entry.group(),
                entry.subject,
                entry.device,
                entry.body,
                i64::try_from(entry.size()).unwrap_or(i64::MAX),
                entry.received_at,
                entry.digest
            ],
        )?;
        Ok(())
    }

    /// Drop every report a newer one of the same group and subject
    /// supersedes; how many were dropped.
    ///
    /// # Errors
    /// When the database fails.
    pub fn drop_superseded(c: &Connection) -> Result<usize, OutboxError> {
        Ok(c.execute(
            "DELETE FROM outbox WHERE seq NOT IN (SELECT MAX(seq) FROM outbox GROUP BY grp, subject)",
            [],
        )?)
    }

    /// When the oldest queued report was received (empty when none is).
    ///
    /// # Errors
    /// When the database fails.
    pub fn oldest(c: &Connection) -> Result<String, OutboxError> {
        Ok(c.query_row(
            "SELECT COALESCE(MIN(received_at), '') FROM outbox",
            [],
            |r| r.get(0),
        )?)
    }

    /// Drop everything up to `seq`, which the CO has stored.
    ///
    /// # Errors
    /// When the database fails.
    pub fn acked(c: &Connection, seq: i64) -> Result<(), OutboxError> {
        c.execute("DELETE FROM outbox WHERE seq <= ?1", [seq])?;
        Ok(())
    }

    /// Entries waiting, oldest first: at most `limit` of them and, beyond
    /// the first, at most `max_bytes` of bodies.
    ///
    /// # Errors
    /// When the database fails.
    pub fn pending(
        c: &Connection,
        limit: i64,
        max_bytes: usize,
    ) -> Result<Vec<IntakeEntry>, OutboxError> {
        let mut st = c.prepare(
            "SELECT seq, kind, device, body, received_at, digest FROM outbox ORDER BY seq LIMIT ?1",
        )?;
        let rows = st.query_map([limit], |r| {
            Ok(IntakeEntry {
                seq: r.get(0)?,
                kind: r.get(1)?,
                device: r.get(2)?,
                body: r.get(3)?,
                received_at: r.get(4)?,
                digest: r.get(5)?,
            })
        })?;
        let mut out = Vec::new();
        let mut bytes = 0;
        for row in rows {
            let e = row?;
            bytes += e.body.len();
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(e);
        }
        Ok(out)
    }

    /// The outbox's epoch (made the first time, a random `new_epoch`), and
    /// record the LO's `site` beside it: what [`read_waiting`] names.
    ///
    /// # Errors
    /// When the database fails.
    pub fn identify(c: &Connection, site: &str, new_epoch: &str) -> Result<String, OutboxError> {
        let epoch: Option<String> = c
            .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let epoch = match epoch {
            Some(e) => e,
            None => {
                c.execute(
                    "INSERT INTO meta (key, value) VALUES ('epoch', ?1)",
                    [new_epoch],
                )?;
                new_epoch.to_owned()
            }
        };
        c.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('site', ?1)",
            [site],
        )?;
        Ok(epoch)
    }
}

/// What an LO's outbox holds for the CO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The LO's site.
    pub site: String,
    /// The outbox's epoch: sequence numbers count within it.
    pub epoch: String,
    /// Every entry not acknowledged yet, oldest first.
    pub entries: Vec<IntakeEntry>,
}

/// Read what the outbox of the LO whose data folder is `data` holds (the
/// LO may be running: this waits for its writes, and changes nothing).
///
/// # Errors
/// When there is no LO database there, it cannot be read, or the LO never
/// ran with its credentials.
pub fn read_waiting(data: &Path) -> Result<Waiting, OutboxError> {
    let db_path = data.join(DB);
    if !db_path.is_file() {
        return Err(OutboxError::NoDatabase(data.display().to_string()));
    }
    let path = db_path.display().to_string();
    let c = Connection::open_with_flags(
        &db_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| OutboxError::Open {
        path: path.clone(),
        source,
    })?;
    c.busy_timeout(Duration::from_secs(10))?;
    let meta = |key: &'static str| -> Result<String, OutboxError> {
        c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .ok()
            .flatten()
            .ok_or_else(|| OutboxError::Unnamed {
                path: path.clone(),
                key,
            })
    };
    let (site, epoch) = (meta("site")?, meta("epoch")?);
    let entries = Outbox::pending(&c, i64::MAX, usize::MAX)?;
    Ok(Waiting {
        site,
        epoch,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(subject: &'a str, body: &'a str) -> NewEntry<'a> {
        NewEntry {
            kind: "status",
            subject,
            device: "d",
            body,
            received_at: "2026-01-01T00:00:00Z",
            digest: None,
        }
    }

    #[test]
    fn entries_are_counted_superseded_and_acknowledged() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        for body in ["a", "bb", "ccc"] {
            Outbox::insert(&c, &entry("dep-1", body)).unwrap();
        }
        Outbox::insert(&c, &entry("dep-2", "x")).unwrap();
        assert_eq!(Outbox::used(&c).unwrap(), 7 + 4 * ENTRY_OVERHEAD);
        assert_eq!(Outbox::drop_superseded(&c).unwrap(), 2);
        let left = Outbox::pending(&c, 10, usize::MAX).unwrap();
        assert_eq!(
            left.iter().map(|e| e.body.as_str()).collect::<Vec<_>>(),
            ["ccc", "x"]
        );
        assert_eq!(Outbox::oldest(&c).unwrap(), "2026-01-01T00:00:00Z");
        Outbox::acked(&c, left[0].seq).unwrap();
        assert_eq!(Outbox::pending(&c, 10, usize::MAX).unwrap().len(), 1);
        // A batch always carries one entry, however large.
        assert_eq!(Outbox::pending(&c, 10, 0).unwrap().len(), 1);
    }

    #[test]
    fn what_waits_is_read_with_the_site_and_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_waiting(dir.path()).unwrap_err();
        assert!(matches!(e, OutboxError::NoDatabase(_)), "{e}");
        let c = Connection::open(dir.path().join(DB)).unwrap();
        c.execute_batch(SCHEMA).unwrap();
        let e = read_waiting(dir.path()).unwrap_err();
        assert!(matches!(e, OutboxError::Unnamed { key: "site", .. }), "{e}");
        let epoch = Outbox::identify(&c, "plant", "e-1").unwrap();
        assert_eq!(Outbox::identify(&c, "plant", "e-2").unwrap(), epoch);
        Outbox::insert(&c, &entry("dep-1", "{}")).unwrap();
        let w = read_waiting(dir.path()).unwrap();
        assert_eq!((w.site.as_str(), w.epoch.as_str()), ("plant", "e-1"));
        assert_eq!(w.entries.len(), 1);
    }
}
