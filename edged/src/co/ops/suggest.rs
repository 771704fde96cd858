//! "Did you mean": the not-found answers of the north API for an app, a
//! site or a device name the known one nearest to what was typed
//! (`no site `plant1`; did you mean `plant-1`?`), chosen by
//! [`edge_model::suggest::did_you_mean`] among names read from the
//! database in bounded pages (a device among its site's devices when the
//! site is known, else among at most [`names::MAX_SCAN`] of them).
//!
//! The caller passes the connection it holds (the database lock is not
//! taken twice) and what to say when nothing is near.

use edge_model::suggest::did_you_mean;
use rusqlite::Connection;

use crate::co::db::names;
use crate::error::ApiError;

/// The nearest of the names `scan` hands over in pages, if any is near.
fn nearest(
    typed: &str,
    scan: impl FnOnce(&mut dyn FnMut(&[String])) -> rusqlite::Result<()>,
) -> Option<String> {
    let mut best: Option<String> = None;
    let result = scan(&mut |page: &[String]| {
        let pick = did_you_mean(
            typed,
            page.iter().map(String::as_str).chain(best.as_deref()),
        )
        .map(str::to_owned);
        if pick.is_some() {
            best = pick;
        }
    });
    // A suggestion is a courtesy: a database that cannot be read only means none.
    if let Err(e) = result {
        tracing::debug!(error = %e, "no suggestion: the names do not read");
        return None;
    }
    best
}

/// `what` not found: `; did you mean `NAME`?` after it when a known name is
/// near, else `otherwise` (such as `; `edgectl co list sites` lists them`).
fn not_found(what: &str, near: Option<String>, otherwise: &str) -> ApiError {
    match near {
        Some(name) => ApiError::not_found(format!("{what}; did you mean `{name}`?")),
        None => ApiError::not_found(format!("{what}{otherwise}")),
    }
}

/// `no site `SITE``, with the nearest site name or `otherwise`.
pub(crate) fn no_site(c: &Connection, site: &str, otherwise: &str) -> ApiError {
    let near = nearest(site, |each| names::sites(c, site, each));
    not_found(&format!("no site `{site}`"), near, otherwise)
}

/// `Ok` when site `site` exists, else [`no_site`].
pub(crate) fn known_site(c: &Connection, site: &str, otherwise: &str) -> Result<(), ApiError> {
    match crate::co::db::sites::site(c, site)? {
        Some(_) => Ok(()),
        None => Err(no_site(c, site, otherwise)),
    }
}

/// `no device `DEVICE`` (`… at site `SITE`` when given), with the nearest
/// device id (of that site, when given) or `otherwise`.
pub(crate) fn no_device(
    c: &Connection,
    device: &str,
    site: Option<&str>,
    otherwise: &str,
) -> ApiError {
    let near = nearest(device, |each| names::devices(c, device, site, each));
    let what = match site {
        Some(s) => format!("no device `{device}` at site `{s}`"),
        None => format!("no device `{device}`"),
    };
    not_found(&what, near, otherwise)
}

/// `no app `APP` in the store`, with the nearest app id or display name, or
/// `otherwise`.
pub(crate) fn no_app(c: &Connection, app: &str, otherwise: &str) -> ApiError {
    let near = nearest(app, |each| names::apps(c, app, each));
    not_found(&format!("no app `{app}` in the store"), near, otherwise)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE sites (name TEXT PRIMARY KEY, labels TEXT NOT NULL, created_at TEXT NOT NULL);
             CREATE TABLE devices (id TEXT PRIMARY KEY, site TEXT NOT NULL, labels TEXT NOT NULL,
                 capabilities TEXT, last_heard TEXT, created_at TEXT NOT NULL);
             CREATE TABLE app_versions (app_id TEXT NOT NULL, version TEXT NOT NULL, name TEXT NOT NULL);
             INSERT INTO sites VALUES ('plant-1', '{}', 't'), ('plant-2', '{}', 't'), ('lab', '{}', 't');
             INSERT INTO devices VALUES ('edge-1', 'plant-1', '{}', NULL, NULL, 't'),
                                        ('edge-9', 'plant-2', '{}', NULL, NULL, 't');
             INSERT INTO app_versions VALUES ('hello-wasm', '1.0.0', 'Hello Wasm'),
                                             ('hello-wasm', '1.1.0', 'Hello Wasm');",
        )
        .unwrap();
        c
    }

    fn text(e: &ApiError) -> String {
        e.detail()
    }

    #[test]
    fn a_near_name_is_suggested_and_a_far_one_gets_the_fallback() {
        let c = db();
        assert_eq!(
            text(&no_site(&c, "plant1", "; list them")),
            "no site `plant1`; did you mean `plant-1`?"
        );
        assert_eq!(
            text(&no_site(&c, "warehouse", "; list them")),
            "no site `warehouse`; list them"
        );
        assert_eq!(
            text(&no_app(&c, "helo-wasm", "")),
            "no app `helo-wasm` in the store; did you mean `hello-wasm`?"
        );
        assert_eq!(
            text(&no_app(&c, "Hello Wsam", "")),
            "no app `Hello Wsam` in the store; did you mean `Hello Wasm`?"
        );
    }

    #[test]
    fn a_device_is_looked_for_at_its_site_when_the_site_is_known() {
        let c = db();
        assert_eq!(
            text(&no_device(&c, "edge1", None, "")),
            "no device `edge1`; did you mean `edge-1`?"
        );
        assert_eq!(
            text(&no_device(&c, "edge-8", Some("plant-1"), ".")),
            "no device `edge-8` at site `plant-1`; did you mean `edge-1`?"
        );
        // edge-9 is near, but of another site.
        assert_eq!(
            text(&no_device(&c, "edge-9x", Some("lab"), ".")),
            "no device `edge-9x` at site `lab`."
        );
        assert_eq!(
            text(&no_device(&c, "edge-9x", None, ".")),
            "no device `edge-9x`; did you mean `edge-9`?"
        );
    }

    #[test]
    fn pages_keep_the_best_across_them() {
        let c = db();
        let tx = c.unchecked_transaction().unwrap();
        for i in 0..2_500 {
            tx.execute(
                "INSERT INTO devices VALUES (?1, 'big', '{}', NULL, NULL, 't')",
                [format!("node-{i:05}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        // The one near name is in the third page.
        assert_eq!(
            text(&no_device(&c, "nod-02345", Some("big"), "")),
            "no device `nod-02345` at site `big`; did you mean `node-02345`?"
        );
    }
}
