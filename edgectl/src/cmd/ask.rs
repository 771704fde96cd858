//! Questions asked only on a terminal (dialoguer, drawn on stderr): a choice
//! when `co deploy` misses `--app` or `--site`, a confirmation before a
//! destructive command. Without a terminal nothing is asked: a missing value
//! is an error naming its flag, and a destructive command goes ahead, as a
//! script that wrote it intends.

use std::io::IsTerminal as _;

use anyhow::{Context as _, bail};

/// True when a person can answer: stdin and stderr are terminals.
pub(crate) fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// The value of a required flag: given, or chosen on a terminal from
/// `options` (label shown, value returned).
pub(crate) fn value_or_choose(
    given: Option<String>,
    flag: &str,
    what: &str,
    options: impl FnOnce() -> anyhow::Result<Vec<(String, String)>>,
) -> anyhow::Result<String> {
    if let Some(v) = given {
        return Ok(v);
    }
    if !interactive() {
        crate::usage!("`{flag}` is required (no terminal to ask on)");
    }
    let options = options()?;
    if options.is_empty() {
        bail!("there is no {what} to choose; give `{flag}`");
    }
    let labels: Vec<&str> = options.iter().map(|(label, _)| label.as_str()).collect();
    let picked = dialoguer::Select::new()
        .with_prompt(format!("Which {what}? (arrows, Enter; Esc cancels)"))
        .items(&labels)
        .default(0)
        .interact_opt()
        .context("cannot ask on this terminal")?;
    match picked {
        Some(i) => Ok(options[i].1.clone()),
        None => bail!("cancelled; nothing changed"),
    }
}

/// Ask before a destructive change unless `yes` or there is no terminal;
/// a "no" ends the command with nothing changed.
pub(crate) fn confirm(yes: bool, question: &str) -> anyhow::Result<()> {
    if yes || !interactive() {
        return Ok(());
    }
    let ok = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact_opt()
        .context("cannot ask on this terminal")?;
    if ok == Some(true) {
        Ok(())
    } else {
        bail!("cancelled; nothing changed")
    }
}
