//! Where `edgectl login` keeps the server and its token, and how commands
//! find them again: `--server` (or `EDGE_SERVER`, read by clap) and
//! `--token-file` (or `EDGE_TOKEN`), then the login store. A token is never a
//! command-line value, where every local user could read it.
//!
//! The server URL is plain configuration, a named context (`contexts`). The
//! token and CA certificate are kept per server URL. The token goes into the kernel keyring (keyring-core
//! with the linux-keyutils store, which works headless inside a session
//! keyring); when that is not available it falls back to a mode 0600 file
//! next to the configuration, with a warning.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use anyhow::Context as _;
const SERVICE: &str = "edgectl";

/// Where configuration lives.
pub(crate) fn config_dir() -> Option<PathBuf> {
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

/// Longest token file read, bytes.
const MAX_TOKEN_FILE: u64 = 4096;
/// Longest CA certificate file read, bytes.
const MAX_CA_FILE: u64 = 64 * 1024;

/// The bytes of the `what` file `path`, refused over `max` bytes.
fn read_bounded(path: &std::path::Path, max: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read the {what} `{}`", path.display()))?;
    anyhow::ensure!(
        u64::try_from(bytes.len()).unwrap_or(u64::MAX) <= max,
        "`{}` is not a {what}: it is over {max} bytes",
        path.display()
    );
    Ok(bytes)
}

/// The token given for this run: the content of `file`, else `EDGE_TOKEN`.
pub(crate) fn given_token(file: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    if let Some(path) = file {
        let text = read_bounded(path, MAX_TOKEN_FILE, "token file")?;
        let token = String::from_utf8_lossy(&text).trim().to_owned();
        anyhow::ensure!(
            !token.is_empty(),
            "the token file `{}` is empty",
            path.display()
        );
        return Ok(Some(token));
    }
    Ok(std::env::var("EDGE_TOKEN")
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty()))
}

/// The PEM text of a CA certificate file, bounded.
pub(crate) fn read_ca(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let pem = read_bounded(path, MAX_CA_FILE, "CA certificate file")?;
    anyhow::ensure!(
        pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----"),
        "`{}` is not a PEM certificate file",
        path.display()
    );
    Ok(pem)
}

/// Where the CA certificate saved for `server` lives.
fn ca_file(dir: &std::path::Path, server: &str) -> PathBuf {
    let mut p = token_file(dir, server);
    p.set_file_name(format!(
        "ca-{}.pem",
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("token-"))
            .unwrap_or("server")
    ));
    p
}

/// The CA certificate saved by `edgectl login --ca-file` for `server`.
pub(crate) fn stored_ca(server: &str) -> Option<Vec<u8>> {
    let dir = config_dir()?;
    fs::read(ca_file(&dir, server)).ok()
}

/// Keep the CA certificate `pem` for `server` next to the configuration.
pub(crate) fn save_ca(server: &str, pem: &[u8]) -> anyhow::Result<PathBuf> {
    let dir =
        config_dir().context("cannot tell where to keep the login: set HOME or XDG_CONFIG_HOME")?;
    fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let path = ca_file(&dir, server);
    fs::write(&path, pem).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(path)
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

/// Forget the token and CA certificate saved for `server`; true when there
/// was anything to forget.
pub(crate) fn forget(server: &str) -> anyhow::Result<bool> {
    let mut found = keyring_entry(server).is_some_and(|e| e.delete_credential().is_ok());
    let Some(dir) = config_dir() else {
        return Ok(found);
    };
    for path in [token_file(&dir, server), ca_file(&dir, server)] {
        match fs::remove_file(&path) {
            Ok(()) => found = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot remove `{}`", path.display()));
            }
        }
    }
    Ok(found)
}
