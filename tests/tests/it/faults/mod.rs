//! Fault injection, every part real: the link between an LO and the CO cut
//! by a proxy that drops, then stalls, then heals (`link`); an edge node
//! killed with SIGKILL at random points of a churn of changes (`kill`); the
//! LO's data folder on a tmpfs that fills (`lo_disk`); and the CO's disk
//! full in the middle of a deploy (`co_disk`). Each scenario states what
//! must not be lost and checks it from outside: the CO's event stream and
//! list, the node's processes, `PRAGMA integrity_check`, `git fsck`.

mod co_disk;
mod kill;
mod link;
mod lo_disk;

use std::path::Path;

/// `PRAGMA integrity_check` of the SQLite database at `db`, opened read-only.
fn integrity(db: &Path) -> String {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap()
}

/// Whether the process `pid` is alive (not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.contains(") Z ") && !s.contains(") X "))
}
