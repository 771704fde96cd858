//! Where the CO's event ids go on from: one row, `event_ids.next`, the
//! first id the next start may give. While the CO runs it is kept ahead of
//! the ids given (reserved in blocks, so a kill -9 loses none of them to a
//! reuse); a clean stop writes the id that comes next, so ids go on
//! without a gap.

use rusqlite::{Connection, OptionalExtension as _};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS event_ids (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    next INTEGER NOT NULL
);
";

/// The first id this start may give (1 on a new database).
pub(crate) fn next(c: &Connection) -> rusqlite::Result<u64> {
    let stored: Option<i64> = c
        .query_row("SELECT next FROM event_ids WHERE one = 1", [], |r| r.get(0))
        .optional()?;
    Ok(stored.map_or(1, |n| u64::try_from(n).unwrap_or(1).max(1)))
}

/// Record `next` as the first id a later start may give.
pub(crate) fn set_next(c: &Connection, next: u64) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO event_ids (one, next) VALUES (1, ?1)
         ON CONFLICT (one) DO UPDATE SET next = excluded.next",
        [i64::try_from(next).unwrap_or(i64::MAX)],
    )?;
    Ok(())
}
