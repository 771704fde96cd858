//! Named logins ("contexts", as kubectl calls them), so one engineer can
//! work with several orchestrators: `edgectl login` saves one under a name
//! and makes it current, `edgectl config use-context` switches, `--context`
//! (or `EDGE_CONTEXT`) picks one for a single command, `edgectl logout`
//! forgets one.
//!
//! A context is only a name for a server URL; the token and CA certificate
//! stay keyed by that URL in `credentials`. The file is
//! `$XDG_CONFIG_HOME/edgectl/config.toml` (or `~/.config/…`), written whole
//! to a temporary file and renamed, so a crash never leaves half of it. The
//! single `server = …` an older edgectl wrote is read as a context named
//! after that server's host and port.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::credentials::config_dir;

/// Longest configuration file read, bytes.
const MAX_CONFIG: u64 = 256 * 1024;

/// The saved contexts.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Config {
    /// The context commands use when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    /// Every context, by name.
    #[serde(default)]
    pub contexts: BTreeMap<String, Saved>,
    /// The one server an older edgectl saved (read, never written).
    #[serde(default, skip_serializing)]
    server: Option<String>,
}

/// One context.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Saved {
    /// The CO's URL.
    pub server: String,
}

fn path() -> anyhow::Result<PathBuf> {
    Ok(config_dir()
        .context("cannot tell where the login is kept: set HOME or XDG_CONFIG_HOME")?
        .join("config.toml"))
}

/// The saved contexts; none when nothing was saved yet.
///
/// # Errors
/// When the file exists but cannot be read or is not a configuration.
pub(crate) fn load() -> anyhow::Result<Config> {
    use std::io::Read as _;
    let path = path()?;
    let mut text = String::new();
    match std::fs::File::open(&path) {
        Ok(f) => {
            f.take(MAX_CONFIG + 1)
                .read_to_string(&mut text)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
    anyhow::ensure!(
        text.len() as u64 <= MAX_CONFIG,
        "`{}` is over {MAX_CONFIG} bytes; it is not edgectl's configuration",
        path.display()
    );
    let mut config: Config = toml::from_str(&text).with_context(|| {
        format!(
            "`{}` is not a valid edgectl configuration (fix or delete it)",
            path.display()
        )
    })?;
    config.adopt_single_server();
    Ok(config)
}

/// Write `config` whole, replacing the file at once.
fn store(config: &Config) -> anyhow::Result<()> {
    let path = path()?;
    let dir = path.parent().context("the configuration has a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let text = toml::to_string(config)?;
    let tmp = dir.join(".config.toml.new");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write `{}`", path.display()))
}

/// The name a server gets when the login names none: its host and port.
pub(crate) fn name_for(server: &str) -> String {
    let rest = server.split_once("://").map_or(server, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or(rest);
    let name: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        .collect();
    if name.is_empty() {
        "default".to_owned()
    } else {
        name
    }
}

/// A context name given by a person: checked before it is saved.
pub(crate) fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !ok {
        bail!("`{name}` is not a context name: use 1 to 64 letters, digits, `.`, `-`, `_` and `:`");
    }
    Ok(())
}

impl Config {
    /// An older edgectl's single `server` becomes a context named after it,
    /// current when none is.
    fn adopt_single_server(&mut self) {
        if let Some(server) = self.server.take() {
            let name = name_for(&server);
            self.contexts
                .entry(name.clone())
                .or_insert(Saved { server });
            self.current_context.get_or_insert(name);
        }
    }

    /// The context `name`, or an error listing those there are.
    pub(crate) fn get(&self, name: &str) -> anyhow::Result<&Saved> {
        if let Some(c) = self.contexts.get(name) {
            return Ok(c);
        }
        if self.contexts.is_empty() {
            bail!(
                "no context `{name}`: nothing is saved yet; `edgectl login --server URL --context {name}` saves one"
            );
        }
        let names: Vec<&str> = self.contexts.keys().map(String::as_str).collect();
        let hint = edge_model::suggest::did_you_mean(name, names.iter().copied())
            .map_or_else(String::new, |s| format!("did you mean `{s}`? "));
        bail!(
            "no context `{name}`; {hint}the saved ones are: {}",
            names.join(", ")
        )
    }

    /// The server of the context named by `--context`, else of the current one.
    pub(crate) fn server(&self, chosen: Option<&str>) -> anyhow::Result<Option<String>> {
        match chosen.or(self.current_context.as_deref()) {
            Some(name) => Ok(Some(self.get(name)?.server.clone())),
            None => Ok(None),
        }
    }
}

/// The server to use when `--server` is not given: that of `--context`
/// (or `EDGE_CONTEXT`), else of the current context.
pub(crate) fn server(chosen: Option<&str>) -> anyhow::Result<Option<String>> {
    load()?.server(chosen)
}

/// Save `server` as context `name` and make it current.
pub(crate) fn remember(name: &str, server: &str) -> anyhow::Result<()> {
    check_name(name)?;
    let mut config = load()?;
    config.contexts.insert(
        name.to_owned(),
        Saved {
            server: server.to_owned(),
        },
    );
    config.current_context = Some(name.to_owned());
    store(&config)
}

/// Make `name` the current context.
pub(crate) fn use_context(name: &str) -> anyhow::Result<Saved> {
    let mut config = load()?;
    let saved = config.get(name)?.clone();
    config.current_context = Some(name.to_owned());
    store(&config)?;
    Ok(saved)
}

/// Forget context `name`; returns its server and whether another context
/// still names that server (whose token must then be kept).
pub(crate) fn forget(name: &str) -> anyhow::Result<(Saved, bool)> {
    let mut config = load()?;
    let saved = config.get(name)?.clone();
    config.contexts.remove(name);
    if config.current_context.as_deref() == Some(name) {
        config.current_context = None;
    }
    let shared = config.contexts.values().any(|c| c.server == saved.server);
    store(&config)?;
    Ok((saved, shared))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_named_by_its_host_and_port() {
        assert_eq!(name_for("https://127.0.0.1:7070"), "127.0.0.1:7070");
        assert_eq!(name_for("https://co.plant.example/api"), "co.plant.example");
        assert_eq!(name_for("co.example:7070"), "co.example:7070");
        assert_eq!(name_for("https://"), "default");
    }

    #[test]
    fn names_are_checked() {
        check_name("plant-1").unwrap();
        check_name("127.0.0.1:7070").unwrap();
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("../x").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn an_older_single_server_reads_as_the_current_context() {
        let mut config: Config = toml::from_str("server = \"https://co:7070\"\n").unwrap();
        config.adopt_single_server();
        assert_eq!(config.current_context.as_deref(), Some("co:7070"));
        assert_eq!(
            config.server(None).unwrap().as_deref(),
            Some("https://co:7070")
        );
        let text = toml::to_string(&config).unwrap();
        assert!(!text.starts_with("server"), "{text}");
    }

    #[test]
    fn an_unknown_context_names_the_saved_ones_and_the_nearest() {
        let config: Config = toml::from_str(
            "current-context = \"plant-1\"\n[contexts.plant-1]\nserver = \"https://a\"\n[contexts.lab]\nserver = \"https://b\"\n",
        )
        .unwrap();
        let e = config.server(Some("plant1")).unwrap_err().to_string();
        assert!(e.contains("did you mean `plant-1`?"), "{e}");
        assert!(e.contains("lab, plant-1"), "{e}");
        assert_eq!(
            config.server(Some("lab")).unwrap().as_deref(),
            Some("https://b")
        );
        assert_eq!(config.server(None).unwrap().as_deref(), Some("https://a"));
    }
}
