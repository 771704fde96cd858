//! Where `edgectl login` keeps the server and its token, and how commands
//! find them again: `--server`/`--token` flags, then `EDGE_SERVER`/`EDGE_TOKEN`
//! (clap reads those), then the login store.
//!
//! The server URL is plain configuration in `$XDG_CONFIG_HOME/edgectl/config.toml`
//! (or `~/.config/…`). The token goes into the kernel keyring (keyring-core
//! with the linux-keyutils store, which works headless inside a session
//! keyring); when that is not available it falls back to a mode 0600 file
//! next to the configuration, with a warning.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

const SERVICE: &str = "edgectl";

/// The stored login.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Config {
    server: Option<String>,
}

/// Where configuration lives.
fn config_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("edgectl"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config").join("edgectl"))
}

/// Where the token file fallback lives.
fn token_file(dir: &std::path::Path, server: &str) -> PathBuf {
    let safe: String = server
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    dir.join(format!("token-{safe}"))
}

fn keyring_entry(server: &str) -> Option<keyring_core::Entry> {
    let store = linux_keyutils_keyring_store::Store::new().ok()?;
    keyring_core::set_default_store(store);
    keyring_core::Entry::new(SERVICE, server).ok()
}

/// The server remembered by `edgectl login`.
pub(crate) fn stored_server() -> Option<String> {
    let dir = config_dir()?;
    let text = fs::read_to_string(dir.join("config.toml")).ok()?;
    toml::from_str::<Config>(&text).ok()?.server
}

/// The token remembered for `server`.
pub(crate) fn stored_token(server: &str) -> Option<String> {
    if let Some(t) = keyring_entry(server).and_then(|e| e.get_password().ok()) {
        return Some(t);
    }
    let dir = config_dir()?;
    fs::read_to_string(token_file(&dir, server))
        .ok()
        .map(|t| t.trim().to_owned())
}

/// Where the token ended up.
pub(crate) enum Saved {
    /// In the kernel keyring.
    Keyring,
    /// In a 0600 file (the keyring was not usable).
    File(PathBuf),
}

/// Remember `server` and its `token`.
pub(crate) fn save(server: &str, token: &str) -> anyhow::Result<Saved> {
    let dir =
        config_dir().context("cannot tell where to keep the login: set HOME or XDG_CONFIG_HOME")?;
    fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let config = toml::to_string(&Config {
        server: Some(server.to_owned()),
    })?;
    fs::write(dir.join("config.toml"), config)
        .with_context(|| format!("cannot write `{}`", dir.join("config.toml").display()))?;
    if keyring_entry(server).is_some_and(|e| e.set_password(token).is_ok()) {
        let _ = fs::remove_file(token_file(&dir, server));
        return Ok(Saved::Keyring);
    }
    let path = token_file(&dir, server);
    let _ = fs::remove_file(&path);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    writeln!(f, "{token}")?;
    Ok(Saved::File(path))
}
