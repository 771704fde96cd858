//! The `deployments` table: the index of the deployment files in the site
//! repositories (`sites/<site>/deployments/<id>.yaml`), rebuilt from them
//! when they disagree.

use rusqlite::{Connection, OptionalExtension as _, params};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    version TEXT NOT NULL,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    profile TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    digest TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS deployments_by_place ON deployments (site, device, app_id);
";

/// Bring a table made by an earlier release up to [`SCHEMA`]: the `name`
/// column (empty: the app's one unnamed deployment on its device) and the
/// `digest` column (empty: not known until the deployment changes or the
/// index is rebuilt).
pub(super) fn migrate(c: &Connection) -> rusqlite::Result<()> {
    for (column, sql) in [
        (
            "name",
            "ALTER TABLE deployments ADD COLUMN name TEXT NOT NULL DEFAULT ''",
        ),
        (
            "digest",
            "ALTER TABLE deployments ADD COLUMN digest TEXT NOT NULL DEFAULT ''",
        ),
    ] {
        let has: bool = c.query_row(
            "SELECT count(*) FROM pragma_table_info('deployments') WHERE name = ?1",
            [column],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !has {
            c.execute_batch(sql)?;
        }
    }
    Ok(())
}

/// One deployment.
#[derive(Debug, Clone)]
pub(crate) struct DeploymentRow {
    pub(crate) id: String,
    pub(crate) app_id: String,
    pub(crate) version: String,
    pub(crate) site: String,
    pub(crate) device: String,
    pub(crate) profile: String,
    pub(crate) commit_id: String,
    pub(crate) created_at: String,
    /// The name given at deploy (`--name`); empty for none.
    pub(crate) name: String,
    /// The SHA-256 digest of its document (empty when not known).
    pub(crate) digest: String,
}

const DEPLOYMENT_COLUMNS: &str =
    "id, app_id, version, site, device, profile, commit_id, created_at, name, digest";

fn deployment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeploymentRow> {
    Ok(DeploymentRow {
        id: r.get(0)?,
        app_id: r.get(1)?,
        version: r.get(2)?,
        site: r.get(3)?,
        device: r.get(4)?,
        profile: r.get(5)?,
        commit_id: r.get(6)?,
        created_at: r.get(7)?,
        name: r.get(8)?,
        digest: r.get(9)?,
    })
}

pub(crate) fn insert_deployment(c: &Connection, d: &DeploymentRow) -> rusqlite::Result<()> {
    c.execute(
        &format!(
            "INSERT INTO deployments ({DEPLOYMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        params![
            d.id,
            d.app_id,
            d.version,
            d.site,
            d.device,
            d.profile,
            d.commit_id,
            d.created_at,
            d.name,
            d.digest
        ],
    )?;
    Ok(())
}

pub(crate) fn deployments(
    c: &Connection,
    site: Option<&str>,
) -> rusqlite::Result<Vec<DeploymentRow>> {
    match site {
        Some(s) => {
            let mut stmt = c.prepare(&format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE site = ?1 ORDER BY rowid"
            ))?;
            stmt.query_map([s], deployment_row)?.collect()
        }
        None => {
            let mut stmt = c.prepare(&format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments ORDER BY site, rowid"
            ))?;
            stmt.query_map([], deployment_row)?.collect()
        }
    }
}

pub(crate) fn deployment(c: &Connection, id: &str) -> rusqlite::Result<Option<DeploymentRow>> {
    c.query_row(
        &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?1"),
        [id],
        deployment_row,
    )
    .optional()
}

/// What a deployment id prefix names.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// Exactly one deployment.
    One(Box<DeploymentRow>),
    /// None.
    None,
    /// More than one: their ids (at most 10).
    Many(Vec<String>),
}

/// The deployment whose id is `prefix` or starts with it (as `git` takes a
/// commit). A prefix is at least 4 characters of `[0-9a-f-]`.
pub(crate) fn lookup(c: &Connection, prefix: &str) -> rusqlite::Result<Lookup> {
    if let Some(row) = deployment(c, prefix)? {
        return Ok(Lookup::One(Box::new(row)));
    }
    if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Ok(Lookup::None);
    }
    let mut stmt = c.prepare(&format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id LIMIT 11"
    ))?;
    let prefix = prefix.to_ascii_lowercase();
    let mut rows: Vec<DeploymentRow> = stmt
        .query_map([&prefix], deployment_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(match rows.len() {
        0 => Lookup::None,
        1 => Lookup::One(Box::new(rows.remove(0))),
        _ => Lookup::Many(rows.into_iter().take(10).map(|r| r.id).collect()),
    })
}

/// The deployment of `app` named `name` (empty: the unnamed one) on `device`
/// of `site`.
pub(crate) fn at_place(
    c: &Connection,
    site: &str,
    device: &str,
    app: &str,
    name: &str,
) -> rusqlite::Result<Option<DeploymentRow>> {
    c.query_row(
        &format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments \
             WHERE site = ?1 AND device = ?2 AND app_id = ?3 AND name = ?4 ORDER BY rowid LIMIT 1"
        ),
        params![site, device, app, name],
        deployment_row,
    )
    .optional()
}

/// Replace a deployment's row (after an update in place), keeping its
/// position and creation time.
pub(crate) fn update_deployment(c: &Connection, d: &DeploymentRow) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE deployments SET version = ?2, profile = ?3, commit_id = ?4, digest = ?5 WHERE id = ?1",
        params![d.id, d.version, d.profile, d.commit_id, d.digest],
    )?;
    Ok(())
}

pub(crate) fn delete_deployment(c: &Connection, id: &str) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM deployments WHERE id = ?1", [id])
}

/// The ids of the deployments of device `id`, oldest first.
pub(crate) fn device_deployments(c: &Connection, id: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = c.prepare("SELECT id FROM deployments WHERE device = ?1 ORDER BY rowid")?;
    stmt.query_map([id], |r| r.get(0))?.collect()
}

/// How many deployments `app` (only `version`, when given) has.
pub(crate) fn deployments_of(
    c: &Connection,
    app: &str,
    version: Option<&str>,
) -> rusqlite::Result<u64> {
    let n: i64 = match version {
        Some(v) => c.query_row(
            "SELECT count(*) FROM deployments WHERE app_id = ?1 AND version = ?2",
            params![app, v],
            |r| r.get(0),
        ),
        None => c.query_row(
            "SELECT count(*) FROM deployments WHERE app_id = ?1",
            [app],
            |r| r.get(0),
        ),
    }?;
    Ok(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str) -> DeploymentRow {
        DeploymentRow {
            id: id.into(),
            app_id: "hello".into(),
            version: "1.0.0".into(),
            site: "s".into(),
            device: "d".into(),
            profile: "wasm".into(),
            commit_id: "c".into(),
            created_at: "t".into(),
            name: name.into(),
            digest: String::new(),
        }
    }

    #[test]
    fn a_table_of_an_earlier_release_gains_the_name_column_and_keeps_its_rows() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE deployments (id TEXT PRIMARY KEY, app_id TEXT NOT NULL, version TEXT NOT NULL,
             site TEXT NOT NULL, device TEXT NOT NULL, profile TEXT NOT NULL, commit_id TEXT NOT NULL,
             created_at TEXT NOT NULL);
             INSERT INTO deployments VALUES ('0a0e5f0c-1', 'hello', '1.0.0', 's', 'd', 'wasm', 'c', 't');",
        )
        .unwrap();
        c.execute_batch(SCHEMA).unwrap();
        migrate(&c).unwrap();
        migrate(&c).unwrap();
        let old = at_place(&c, "s", "d", "hello", "").unwrap().unwrap();
        assert_eq!(old.id, "0a0e5f0c-1");
        insert_deployment(&c, &row("0a0e5f0c-2", "second")).unwrap();
        assert_eq!(
            at_place(&c, "s", "d", "hello", "second")
                .unwrap()
                .unwrap()
                .id,
            "0a0e5f0c-2"
        );
    }

    #[test]
    fn an_id_prefix_names_one_deployment_or_says_which_it_could_be() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        for id in ["3f2a0000-1", "3f2a0000-2", "4b00"] {
            insert_deployment(&c, &row(id, id)).unwrap();
        }
        assert!(matches!(lookup(&c, "4b00").unwrap(), Lookup::One(r) if r.id == "4b00"));
        assert!(matches!(lookup(&c, "3f2a0000-2").unwrap(), Lookup::One(_)));
        assert!(
            matches!(lookup(&c, "3F2A0000-1").unwrap(), Lookup::One(r) if r.id == "3f2a0000-1")
        );
        match lookup(&c, "3f2a").unwrap() {
            Lookup::Many(ids) => assert_eq!(ids, ["3f2a0000-1", "3f2a0000-2"]),
            other => panic!("{other:?}"),
        }
        // Too short, or not an id's characters: nothing, never a LIKE pattern.
        assert!(matches!(lookup(&c, "3f").unwrap(), Lookup::None));
        assert!(matches!(lookup(&c, "3f2%").unwrap(), Lookup::None));
        assert!(matches!(lookup(&c, "ffff").unwrap(), Lookup::None));
    }
}
