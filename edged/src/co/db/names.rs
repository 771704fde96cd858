//! Known names near a mistyped one, for the "did you mean" of a not-found
//! answer: site names, device ids (of one site, or a bounded scan of all)
//! and app ids and display names. Each query reads a bounded number of
//! rows and hands them to the caller in pages, so a suggestion never holds
//! a whole fleet's names in memory.

use rusqlite::{Connection, params};

/// Most rows one suggestion looks at.
pub(crate) const MAX_SCAN: i64 = 20_000;
/// Rows handed over at once.
const PAGE: usize = 1_000;

/// Call `each` with pages of the names `sql` selects (one text column;
/// `?1` and `?2` are the shortest and longest length of interest, `?3` the
/// row limit, `?4` a site when the statement names one).
fn pages(
    c: &Connection,
    sql: &str,
    typed: &str,
    site: Option<&str>,
    each: &mut dyn FnMut(&[String]),
) -> rusqlite::Result<()> {
    // A name more than 3 edits away in length is never suggested; names
    // that differ only by dashes are, so the lower bound is loose.
    let len = i64::try_from(typed.len()).unwrap_or(i64::MAX);
    let (shortest, longest) = (len / 2 - 3, len.saturating_mul(2).saturating_add(3));
    let mut stmt = c.prepare(sql)?;
    let mut rows = match site {
        Some(s) => stmt.query(params![shortest, longest, MAX_SCAN, s])?,
        None => stmt.query(params![shortest, longest, MAX_SCAN])?,
    };
    let mut page = Vec::with_capacity(PAGE);
    while let Some(row) = rows.next()? {
        page.push(row.get::<_, String>(0)?);
        if page.len() == PAGE {
            each(&page);
            page.clear();
        }
    }
    if !page.is_empty() {
        each(&page);
    }
    Ok(())
}

/// Site names, in pages.
pub(crate) fn sites(
    c: &Connection,
    typed: &str,
    each: &mut dyn FnMut(&[String]),
) -> rusqlite::Result<()> {
    pages(
        c,
        "SELECT name FROM sites WHERE length(name) BETWEEN ?1 AND ?2 LIMIT ?3",
        typed,
        None,
        each,
    )
}

/// Device ids of `site`, or of every site (at most [`MAX_SCAN`] of them),
/// in pages.
pub(crate) fn devices(
    c: &Connection,
    typed: &str,
    site: Option<&str>,
    each: &mut dyn FnMut(&[String]),
) -> rusqlite::Result<()> {
    let sql = match site {
        Some(_) => {
            "SELECT id FROM devices WHERE length(id) BETWEEN ?1 AND ?2 AND site = ?4 LIMIT ?3"
        }
        None => "SELECT id FROM devices WHERE length(id) BETWEEN ?1 AND ?2 LIMIT ?3",
    };
    pages(c, sql, typed, site, each)
}

/// App ids and display names, in pages.
pub(crate) fn apps(
    c: &Connection,
    typed: &str,
    each: &mut dyn FnMut(&[String]),
) -> rusqlite::Result<()> {
    pages(
        c,
        "SELECT app_id FROM app_versions WHERE length(app_id) BETWEEN ?1 AND ?2
         UNION SELECT name FROM app_versions WHERE length(name) BETWEEN ?1 AND ?2 LIMIT ?3",
        typed,
        None,
        each,
    )
}
