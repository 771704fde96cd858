//! The edge node's durable state, `en.db` (SQLite, WAL, `synchronous=FULL`):
//!
//! - `desired`: the last verified manifest's deployments (exact bytes), kept
//!   before anything is applied, so a restart with no network reconciles
//!   from it;
//! - `applied`: every deployment that may have something on this node (a row
//!   is written before its first component starts and deleted only after its
//!   last one is removed), so a crash mid-install or mid-removal is finished
//!   on restart;
//! - `outbox`: status and capabilities reports not yet acknowledged, sent in
//!   order; a newer capabilities report replaces an unsent older one;
//! - `meta`: the desired manifest's version and ETag, the last contact;
//! - `processes`: the process each native workload runs as — pid, start
//!   time and boot — so that a restarted daemon ends a leftover only while
//!   it still is that process (the runtime's `Ledger`);
//! - `accounts`: the user id given to each native workload.
//!
//! The file is `0600` (SQLite gives its WAL the same mode).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use edge_runtime::ledger::Leftover;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, params};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS desired (
    position INTEGER NOT NULL, id TEXT PRIMARY KEY, digest TEXT NOT NULL, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS applied (
    id TEXT PRIMARY KEY, digest TEXT NOT NULL, doc BLOB NOT NULL, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, key TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS processes (
    key TEXT PRIMARY KEY, pid INTEGER NOT NULL, start INTEGER NOT NULL, boot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (key TEXT PRIMARY KEY, uid INTEGER NOT NULL UNIQUE);
";

/// Most reports kept while the fleet manager is away; beyond it, reports
/// superseded by a newer one of the same deployment are dropped first.
#[cfg(not(test))]
const OUTBOX_ROWS: u64 = 20_000;
/// The same rule in unit tests, reached in a second rather than minutes.
#[cfg(test)]
const OUTBOX_ROWS: u64 = 300;

/// One deployment document as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Doc {
    pub(crate) id: String,
    pub(crate) digest: String,
    pub(crate) bytes: Vec<u8>,
}

/// The desired set of the last verified manifest.
#[derive(Debug, Clone, Default)]
pub(crate) struct DesiredSet {
    pub(crate) version: u64,
    pub(crate) etag: String,
    pub(crate) docs: Vec<Doc>,
}

/// A queued report.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub(crate) seq: i64,
    pub(crate) kind: String,
    pub(crate) key: String,
    pub(crate) body: Vec<u8>,
}

/// `en.db`.
pub(crate) struct Db(Mutex<Connection>);

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("en.db")
    }
}

impl Db {
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        crate::perms::private_file(path)
            .with_context(|| format!("cannot make `{}` private", path.display()))?;
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the database `{}`", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self(Mutex::new(conn)))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn meta(&self, key: &str) -> Option<String> {
        self.conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .ok()
            .flatten()
    }

    pub(crate) fn set_meta(&self, key: &str, value: &str) -> anyhow::Result<()> {
        self.conn().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    /// Replace the desired set in one transaction.
    pub(crate) fn set_desired(&self, set: &DesiredSet) -> anyhow::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM desired", [])?;
        for (i, d) in set.docs.iter().enumerate() {
            tx.execute(
                "INSERT INTO desired (position, id, digest, doc) VALUES (?1, ?2, ?3, ?4)",
                params![
                    i64::try_from(i).unwrap_or(i64::MAX),
                    d.id,
                    d.digest,
                    d.bytes
                ],
            )?;
        }
        for (k, v) in [
            ("desired_version", set.version.to_string()),
            ("desired_etag", set.etag.clone()),
        ] {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![k, v],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The desired set kept, `None` before the first manifest.
    pub(crate) fn desired(&self) -> anyhow::Result<Option<DesiredSet>> {
        let Some(version) = self.meta("desired_version") else {
            return Ok(None);
        };
        let conn = self.conn();
        let mut st = conn.prepare("SELECT id, digest, doc FROM desired ORDER BY position")?;
        let docs = st
            .query_map([], |r| {
                Ok(Doc {
                    id: r.get(0)?,
                    digest: r.get(1)?,
                    bytes: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        drop(st);
        drop(conn);
        Ok(Some(DesiredSet {
            version: version.parse().unwrap_or(0),
            etag: self.meta("desired_etag").unwrap_or_default(),
            docs,
        }))
    }

    pub(crate) fn set_applied(&self, doc: &Doc, version: u64) -> anyhow::Result<()> {
        self.conn().execute(
            "INSERT INTO applied (id, digest, doc, version) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, doc = excluded.doc,
             version = excluded.version",
            params![
                doc.id,
                doc.digest,
                doc.bytes,
                i64::try_from(version).unwrap_or(i64::MAX)
            ],
        )?;
        Ok(())
    }

    pub(crate) fn remove_applied(&self, id: &str) -> anyhow::Result<()> {
        self.conn()
            .execute("DELETE FROM applied WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Applied deployments with the manifest version they were applied at.
    pub(crate) fn applied(&self) -> anyhow::Result<Vec<(Doc, u64)>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT id, digest, doc, version FROM applied")?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    Doc {
                        id: r.get(0)?,
                        digest: r.get(1)?,
                        bytes: r.get(2)?,
                    },
                    u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Queue a report (`kind` is `status` or `capabilities`).
    pub(crate) fn push(&self, kind: &str, key: &str, body: &[u8]) -> anyhow::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if kind == "capabilities" {
            tx.execute("DELETE FROM outbox WHERE kind = 'capabilities'", [])?;
        }
        tx.execute(
            "INSERT INTO outbox (kind, key, body) VALUES (?1, ?2, ?3)",
            params![kind, key, body],
        )?;
        let rows: i64 = tx.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
        if u64::try_from(rows).unwrap_or(0) > OUTBOX_ROWS {
            // Keep the newest report of each deployment; older ones go.
            let dropped = tx.execute(
                "DELETE FROM outbox WHERE seq IN (
                   SELECT o.seq FROM outbox o WHERE EXISTS (
                     SELECT 1 FROM outbox n WHERE n.key = o.key AND n.kind = o.kind AND n.seq > o.seq)
                   ORDER BY o.seq LIMIT 1000)",
                [],
            )?;
            tracing::warn!(
                dropped,
                "the report queue is full; superseded reports were dropped"
            );
        }
        tx.commit()?;
        Ok(())
    }

    /// The oldest queued report.
    pub(crate) fn next(&self) -> anyhow::Result<Option<Queued>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT seq, kind, key, body FROM outbox ORDER BY seq LIMIT 1",
                [],
                |r| {
                    Ok(Queued {
                        seq: r.get(0)?,
                        kind: r.get(1)?,
                        key: r.get(2)?,
                        body: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    pub(crate) fn done(&self, seq: i64) -> anyhow::Result<()> {
        self.conn()
            .execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
        Ok(())
    }

    pub(crate) fn queued(&self) -> u64 {
        self.conn()
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))
            .map_or(0, |n| u64::try_from(n).unwrap_or(0))
    }
}

/// The ledger of native workloads' processes and accounts. A write that
/// fails is logged: the worst outcome is a leftover process not ended.
impl edge_runtime::ledger::Ledger for Db {
    fn process(&self, key: &str) -> Option<Leftover> {
        self.conn()
            .query_row(
                "SELECT pid, start, boot FROM processes WHERE key = ?1",
                [key],
                |r| {
                    Ok(Leftover {
                        pid: r.get(0)?,
                        start: r.get::<_, i64>(1)?.try_into().unwrap_or(0),
                        boot: r.get(2)?,
                    })
                },
            )
            .optional()
            .ok()
            .flatten()
    }

    fn set_process(&self, key: &str, p: Option<&Leftover>) {
        let conn = self.conn();
        let done = match p {
            Some(p) => conn.execute(
                "INSERT INTO processes (key, pid, start, boot) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET pid = excluded.pid, start = excluded.start, boot = excluded.boot",
                params![key, p.pid, i64::try_from(p.start).unwrap_or(i64::MAX), p.boot],
            ),
            None => conn.execute("DELETE FROM processes WHERE key = ?1", [key]),
        };
        if let Err(e) = done {
            tracing::error!(key, error = %e, "cannot record a workload's process");
        }
    }

    fn accounts(&self) -> BTreeMap<String, u32> {
        let conn = self.conn();
        let rows = conn
            .prepare("SELECT key, uid FROM accounts")
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<BTreeMap<String, u32>>>()
            });
        rows.unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the workloads' accounts");
            BTreeMap::new()
        })
    }

    fn set_account(&self, key: &str, uid: Option<u32>) {
        let conn = self.conn();
        let done = match uid {
            Some(u) => conn.execute(
                "INSERT INTO accounts (key, uid) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET uid = excluded.uid",
                params![key, u],
            ),
            None => conn.execute("DELETE FROM accounts WHERE key = ?1", [key]),
        };
        if let Err(e) = done {
            tracing::error!(key, error = %e, "cannot record a workload's account");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_and_accounts_survive_reopening_in_a_private_file() {
        use edge_runtime::ledger::Ledger as _;
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("en.db");
        let p = Leftover {
            pid: 4242,
            start: 987_654,
            boot: "b".into(),
        };
        {
            let db = Db::open(&path).unwrap();
            db.set_process("d/a", Some(&p));
            db.set_account("d/a", Some(60_601));
            db.set_account("d/b", Some(60_602));
        }
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let db = Db::open(&path).unwrap();
        assert_eq!(db.process("d/a"), Some(p));
        assert_eq!(db.accounts().len(), 2);
        db.set_process("d/a", None);
        db.set_account("d/b", None);
        assert_eq!(db.process("d/a"), None);
        assert_eq!(db.accounts(), [("d/a".to_owned(), 60_601)].into());
    }

    #[test]
    fn desired_applied_and_outbox_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("en.db");
        let doc = |id: &str| Doc {
            id: id.into(),
            digest: format!("sha256:{id}"),
            bytes: id.as_bytes().to_vec(),
        };
        {
            let db = Db::open(&path).unwrap();
            assert!(db.desired().unwrap().is_none());
            db.set_desired(&DesiredSet {
                version: 7,
                etag: "\"e\"".into(),
                docs: vec![doc("b"), doc("a")],
            })
            .unwrap();
            db.set_applied(&doc("a"), 7).unwrap();
            db.push("capabilities", "dev", b"old").unwrap();
            db.push("status", "a", b"1").unwrap();
            db.push("capabilities", "dev", b"new").unwrap();
        }
        let db = Db::open(&path).unwrap();
        let set = db.desired().unwrap().unwrap();
        assert_eq!(set.version, 7);
        assert_eq!(
            set.docs.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["b", "a"],
            "manifest order is kept"
        );
        assert_eq!(db.applied().unwrap(), vec![(doc("a"), 7)]);
        let first = db.next().unwrap().unwrap();
        assert_eq!(
            (first.kind.as_str(), first.body.as_slice()),
            ("status", &b"1"[..])
        );
        db.done(first.seq).unwrap();
        let second = db.next().unwrap().unwrap();
        assert_eq!(second.body, b"new", "only the newest capabilities are sent");
        db.done(second.seq).unwrap();
        assert_eq!(db.queued(), 0);
        db.remove_applied("a").unwrap();
        assert!(db.applied().unwrap().is_empty());
    }

    #[test]
    fn a_full_queue_drops_superseded_reports_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("en.db")).unwrap();
        db.push("status", "only-once", b"keep").unwrap();
        for i in 0..=OUTBOX_ROWS {
            db.push("status", "busy", i.to_string().as_bytes()).unwrap();
        }
        assert!(db.queued() <= OUTBOX_ROWS);
        let first = db.next().unwrap().unwrap();
        assert_eq!(
            first.key, "only-once",
            "the one report of a deployment stays"
        );
    }
}
