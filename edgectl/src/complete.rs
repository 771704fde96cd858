//! Completion of live names: when the shell asks (clap_complete's dynamic
//! completion, `COMPLETE=bash edgectl …`), apps, sites, devices and
//! deployment ids come from the CO the current login names, and contexts
//! from the saved logins.
//!
//! A shell waits for the answer, so the CO gets [`BUDGET`] in all; when it
//! is slower, unreachable, or no login is saved, no names are offered and
//! nothing is printed: a completion never shows an error or hangs the prompt.
//! Only the server, token and CA from the environment (`EDGE_SERVER`,
//! `EDGE_TOKEN`, `EDGE_CA`, `EDGE_CONTEXT`) or the saved login are used; the
//! flags on the line being completed are not seen.

use std::ffi::OsStr;
use std::sync::mpsc;
use std::time::Duration;

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use edge_api::routes;
use edge_api::types::{AppSummary, DeploymentSummary, Device, Site};

/// The longest a completion waits for the CO, unless
/// `EDGECTL_COMPLETE_MS` says otherwise (10 to 10,000 ms: a slow link, or a
/// debug build under test).
pub(crate) const BUDGET: Duration = Duration::from_millis(100);

fn budget() -> Duration {
    std::env::var("EDGECTL_COMPLETE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(BUDGET, |ms| Duration::from_millis(ms.clamp(10, 10_000)))
}

/// The script a shell sources to complete `edgectl` through `edgectl` itself.
///
/// # Errors
/// When the shell is one clap_complete cannot register for.
pub fn script(shell: clap_complete::Shell) -> std::io::Result<Vec<u8>> {
    let shells = clap_complete::env::Shells::builtins();
    let name = shell.to_string();
    let Some(completer) = shells.completer(&name) else {
        return Err(std::io::Error::other(format!(
            "no completion for the shell `{name}`"
        )));
    };
    let mut out = Vec::new();
    completer.write_registration("COMPLETE", "edgectl", "edgectl", "edgectl", &mut out)?;
    Ok(out)
}

/// The names `fetch` finds at the CO, or none within [`BUDGET`].
fn live(
    current: &OsStr,
    fetch: fn(&edge_api::Client) -> Option<Vec<CompletionCandidate>>,
) -> Vec<CompletionCandidate> {
    let Some(prefix) = current.to_str().map(str::to_owned) else {
        return Vec::new();
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let found = client().and_then(|c| fetch(&c)).unwrap_or_default();
        let _ = tx.send(found);
    });
    rx.recv_timeout(budget())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.get_value().to_string_lossy().starts_with(&prefix))
        .collect()
}

/// The client of the environment's or the saved login, if any.
fn client() -> Option<edge_api::Client> {
    let context = std::env::var("EDGE_CONTEXT").ok();
    let server = std::env::var("EDGE_SERVER")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| crate::contexts::server(context.as_deref()).ok().flatten())?;
    let token = crate::credentials::given_token(None)
        .ok()
        .flatten()
        .or_else(|| crate::credentials::stored_token(&server));
    let ca = match std::env::var_os("EDGE_CA") {
        Some(path) => crate::credentials::read_ca(std::path::Path::new(&path)).ok(),
        None => crate::credentials::stored_ca(&server),
    };
    edge_api::Client::with_ca(&server, token, ca.as_deref()).ok()
}

fn get<T: serde::de::DeserializeOwned>(c: &edge_api::Client, route: &str) -> Option<T> {
    c.get_within(route, budget()).ok()
}

fn help(text: String) -> Option<clap::builder::StyledStr> {
    Some(text.into())
}

/// Apps: ids, with their names.
pub(crate) fn apps() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        live(current, |c| {
            let list: Vec<AppSummary> = get(c, routes::APPS)?;
            Some(
                list.into_iter()
                    .map(|a| CompletionCandidate::new(&a.id).help(help(a.name)))
                    .collect(),
            )
        })
    })
}

/// Sites.
pub(crate) fn sites() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        live(current, |c| {
            let list: Vec<Site> = get(c, routes::SITES)?;
            Some(
                list.into_iter()
                    .map(|s| {
                        let n = crate::printer::count(s.devices, "device", "devices");
                        CompletionCandidate::new(&s.name).help(help(n))
                    })
                    .collect(),
            )
        })
    })
}

/// Devices, with their sites.
pub(crate) fn devices() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        live(current, |c| {
            let list: Vec<Device> = get(c, routes::DEVICES)?;
            Some(
                list.into_iter()
                    .map(|d| CompletionCandidate::new(&d.id).help(help(format!("at {}", d.site))))
                    .collect(),
            )
        })
    })
}

/// Deployment ids, with what and where.
pub(crate) fn deployments() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        live(current, |c| {
            let list: Vec<DeploymentSummary> = get(c, routes::DEPLOYMENTS)?;
            Some(
                list.into_iter()
                    .map(|d| {
                        let what = format!("{} {} on {}/{}", d.app, d.version, d.site, d.device);
                        CompletionCandidate::new(&d.id).help(help(what))
                    })
                    .collect(),
            )
        })
    })
}

/// The saved contexts (no server asked).
pub(crate) fn contexts() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let prefix = current.to_string_lossy();
        crate::contexts::load()
            .map(|c| {
                c.contexts
                    .into_iter()
                    .filter(|(name, _)| name.starts_with(prefix.as_ref()))
                    .map(|(name, saved)| CompletionCandidate::new(name).help(help(saved.server)))
                    .collect()
            })
            .unwrap_or_default()
    })
}
