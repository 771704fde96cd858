//! The `sites` and `devices` tables, with the capabilities devices report
//! and when they were last heard from.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension as _, params};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sites (
    name TEXT PRIMARY KEY,
    labels TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL REFERENCES sites(name),
    labels TEXT NOT NULL,
    capabilities TEXT,
    last_heard TEXT,
    created_at TEXT NOT NULL
);
";

/// Labels as stored (a JSON object); unreadable text reads as none.
fn labels(text: &str) -> BTreeMap<String, String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Labels to store.
fn labels_text(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_default()
}

/// One site.
#[derive(Debug, Clone)]
pub(crate) struct SiteRow {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) created_at: String,
    pub(crate) devices: u64,
}

/// One device.
#[derive(Debug, Clone)]
pub(crate) struct DeviceRow {
    pub(crate) id: String,
    pub(crate) site: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) capabilities: Option<String>,
    pub(crate) last_heard: Option<String>,
    pub(crate) created_at: String,
}

pub(crate) fn insert_site(
    c: &Connection,
    name: &str,
    labels: &BTreeMap<String, String>,
    now: &str,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO sites (name, labels, created_at) VALUES (?1, ?2, ?3)",
        params![name, labels_text(labels), now],
    )?;
    Ok(())
}

pub(crate) fn set_site_labels(
    c: &Connection,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE sites SET labels = ?2 WHERE name = ?1",
        params![name, labels_text(labels)],
    )
}

fn site_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SiteRow> {
    let l: String = r.get(1)?;
    Ok(SiteRow {
        name: r.get(0)?,
        labels: labels(&l),
        created_at: r.get(2)?,
        devices: r.get::<_, i64>(3)?.try_into().unwrap_or(0),
    })
}

const SITE_QUERY: &str = "SELECT s.name, s.labels, s.created_at, (SELECT count(*) FROM devices d WHERE d.site = s.name) FROM sites s";

pub(crate) fn sites(c: &Connection) -> rusqlite::Result<Vec<SiteRow>> {
    let mut stmt = c.prepare(&format!("{SITE_QUERY} ORDER BY s.name"))?;
    stmt.query_map([], site_row)?.collect()
}

pub(crate) fn site(c: &Connection, name: &str) -> rusqlite::Result<Option<SiteRow>> {
    c.query_row(&format!("{SITE_QUERY} WHERE s.name = ?1"), [name], site_row)
        .optional()
}

pub(crate) fn insert_device(c: &Connection, d: &DeviceRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO devices (id, site, labels, capabilities, last_heard, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![d.id, d.site, labels_text(&d.labels), d.capabilities, d.last_heard, d.created_at],
    )?;
    Ok(())
}

pub(crate) fn set_device_labels(
    c: &Connection,
    id: &str,
    labels: &BTreeMap<String, String>,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE devices SET labels = ?2 WHERE id = ?1",
        params![id, labels_text(labels)],
    )
}

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    let l: String = r.get(2)?;
    Ok(DeviceRow {
        id: r.get(0)?,
        site: r.get(1)?,
        labels: labels(&l),
        capabilities: r.get(3)?,
        last_heard: r.get(4)?,
        created_at: r.get(5)?,
    })
}

pub(crate) fn devices(c: &Connection, site: Option<&str>) -> rusqlite::Result<Vec<DeviceRow>> {
    let base = "SELECT id, site, labels, capabilities, last_heard, created_at FROM devices";
    match site {
        Some(s) => {
            let mut stmt = c.prepare(&format!("{base} WHERE site = ?1 ORDER BY id"))?;
            stmt.query_map([s], device_row)?.collect()
        }
        None => {
            let mut stmt = c.prepare(&format!("{base} ORDER BY id"))?;
            stmt.query_map([], device_row)?.collect()
        }
    }
}

pub(crate) fn device(c: &Connection, id: &str) -> rusqlite::Result<Option<DeviceRow>> {
    c.query_row(
        "SELECT id, site, labels, capabilities, last_heard, created_at FROM devices WHERE id = ?1",
        [id],
        device_row,
    )
    .optional()
}

/// The site of device `id`; `None` for a device the CO does not know (one
/// cached statement: intake asks it for every report).
pub(crate) fn site_of(c: &Connection, id: &str) -> rusqlite::Result<Option<String>> {
    c.prepare_cached("SELECT site FROM devices WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()
}

/// The devices behind gateway `id` (`id/…`, any depth), sorted.
pub(crate) fn children(c: &Connection, id: &str) -> rusqlite::Result<Vec<String>> {
    let prefix = format!("{id}/");
    c.prepare_cached("SELECT id FROM devices WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id")?
        .query_map([prefix], |r| r.get(0))?
        .collect()
}

/// Store a device's capabilities (`None` forgets them); `None` when the
/// device is not registered at `site`, else whether it had none before.
pub(crate) fn set_capabilities(
    c: &Connection,
    site: &str,
    device: &str,
    json: Option<&str>,
    at: &str,
) -> rusqlite::Result<Option<bool>> {
    let before: Option<Option<String>> = c
        .query_row(
            "SELECT capabilities FROM devices WHERE id = ?1 AND site = ?2",
            params![device, site],
            |r| r.get(0),
        )
        .optional()?;
    let Some(before) = before else {
        return Ok(None);
    };
    c.execute(
        "UPDATE devices SET capabilities = ?3, last_heard = ?4 WHERE id = ?1 AND site = ?2",
        params![device, site, json, at],
    )?;
    Ok(Some(before.is_none()))
}

/// Note that `device` of `site` was heard from at `at`.
pub(crate) fn heard_from(
    c: &Connection,
    site: &str,
    device: &str,
    at: &str,
) -> rusqlite::Result<()> {
    c.prepare_cached("UPDATE devices SET last_heard = ?3 WHERE id = ?1 AND site = ?2")?
        .execute(params![device, site, at])?;
    Ok(())
}
