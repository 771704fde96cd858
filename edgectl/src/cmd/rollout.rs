//! `edgectl co rollout …`: list rollouts, show one (each wave's progress and
//! each device's state), follow one live until it ends (`status --wait`,
//! also what `--wait` does after a change that became a rollout), and
//! pause, resume or undo one.
//!
//! Following reads the CO's event stream (opened before anything else, so
//! nothing is missed) and reads the rollout again on each of its events.
//! On a terminal each wave is a progress bar; otherwise one plain line per
//! change of a wave's counts, with no escape codes.

use std::collections::BTreeMap;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::bail;
use edge_api::events::Events;
use edge_api::types::{Rollout, RolloutWave};
use edge_api::{Client, routes};

use crate::cli::RolloutCommand;
use crate::printer::Printer;

/// Run `co rollout …`.
pub(crate) fn rollout(
    client: &Client,
    printer: Printer,
    command: RolloutCommand,
) -> anyhow::Result<()> {
    match command {
        RolloutCommand::List { limit } => {
            let list: Vec<Rollout> = client.get(&format!("{}?limit={limit}", routes::ROLLOUTS))?;
            printer.data(&list);
            let rows: Vec<Vec<String>> = list.iter().map(row).collect();
            printer.table(
                &[
                    "ID", "STATE", "WAVE", "HEALTHY", "FAILED", "SITES", "CHANGE",
                ],
                &rows,
            );
        }
        RolloutCommand::Status { id, wait, timeout } => {
            if wait {
                let events = client.events(None)?;
                return follow(client, printer, &id, timeout, events);
            }
            let r: Rollout = client.get(&path(&id))?;
            printer.data(&r);
            show(printer, &r);
        }
        RolloutCommand::Pause { id } => act(client, printer, &id, "pause")?,
        RolloutCommand::Resume { id } => act(client, printer, &id, "resume")?,
        RolloutCommand::Undo { id, yes } => {
            super::ask::confirm(
                yes,
                &format!(
                    "Undo rollout {id}? Every device it changed gets its previous deployment back"
                ),
            )?;
            act(client, printer, &id, "undo")?;
        }
    }
    Ok(())
}

fn path(id: &str) -> String {
    routes::ROLLOUT.replace("{rollout}", id)
}

fn act(client: &Client, printer: Printer, id: &str, action: &str) -> anyhow::Result<()> {
    let p = routes::ROLLOUT_ACTION
        .replace("{rollout}", id)
        .replace("{action}", action);
    let r: Rollout = client.post(&p, &serde_json::json!({}))?;
    printer.data(&r);
    let restored = r
        .targets
        .iter()
        .filter(|t| t.state == "rolled-back")
        .count();
    printer.line(&match action {
        "pause" => format!(
            "rollout {} paused at wave {} of {}",
            r.id,
            r.wave,
            r.waves.len()
        ),
        "resume" => format!(
            "rollout {} is {} (wave {} of {})",
            r.id,
            r.state,
            r.wave,
            r.waves.len()
        ),
        _ => format!(
            "rollout {} undone: {restored} deployment(s) put back as they were",
            r.id
        ),
    });
    Ok(())
}

/// A rollout as one table row.
fn row(r: &Rollout) -> Vec<String> {
    let healthy: u32 = r.waves.iter().map(|w| w.healthy).sum();
    vec![
        r.id.clone(),
        r.state.clone(),
        format!("{}/{}", r.wave, r.waves.len()),
        format!("{healthy}/{}", r.total),
        format!("{} (budget {})", r.failures, r.budget),
        r.sites.join(","),
        r.description.chars().take(60).collect(),
    ]
}

/// One wave as text, with a bar of `width` cells.
fn wave_line(w: &RolloutWave, waves: usize, width: usize) -> String {
    let size = w.size.max(1) as usize;
    let ok = (w.healthy as usize * width).div_ceil(size).min(width);
    let bad = (w.failed as usize * width).div_ceil(size).min(width - ok);
    let bar = format!(
        "{}{}{}",
        "█".repeat(ok),
        "▒".repeat(bad),
        "░".repeat(width - ok - bad)
    );
    format!(
        "wave {}/{waves} [{bar}] {}/{} healthy, {} failed, {} waiting — {}",
        w.number, w.healthy, w.size, w.failed, w.waiting, w.state
    )
}

/// Print a rollout for people.
fn show(printer: Printer, r: &Rollout) {
    printer.line(&format!("rollout {}: {}", r.id, r.state));
    if let Some(reason) = &r.reason {
        printer.line(&format!("  {reason}"));
    }
    printer.line(&format!("  change: {}", r.description));
    printer.line(&format!(
        "  by {} at {}; {} deployment(s) at {}; failures {} of {} allowed",
        r.by,
        r.created_at,
        r.total,
        r.sites.join(", "),
        r.failures,
        r.budget
    ));
    for w in &r.waves {
        printer.line(&format!("  {}", wave_line(w, r.waves.len(), 20)));
    }
    let rows: Vec<Vec<String>> = r
        .targets
        .iter()
        .map(|t| {
            vec![
                t.wave.to_string(),
                t.site.clone(),
                t.device.clone(),
                t.app.clone(),
                format!(
                    "{} → {}",
                    t.from_version.as_deref().unwrap_or("-"),
                    t.to_version.as_deref().unwrap_or("-")
                ),
                match &t.error {
                    Some(e) => format!("{}: {e}", t.state),
                    None => t.state.clone(),
                },
            ]
        })
        .collect();
    if !rows.is_empty() {
        printer.table(
            &["WAVE", "SITE", "DEVICE", "APP", "VERSION", "STATE"],
            &rows,
        );
    }
}

/// Follow rollout `id` on `events` until it ends or `timeout` passes:
/// `Ok` when it is done, an error saying why otherwise.
pub(crate) fn follow(
    client: &Client,
    printer: Printer,
    id: &str,
    timeout: Duration,
    events: Events,
) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    let started = Instant::now();
    let fancy = printer.is_human() && std::io::stderr().is_terminal();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for e in events {
            if tx.send(e).is_err() {
                break;
            }
        }
    });
    let multi = indicatif::MultiProgress::new();
    let mut bars: BTreeMap<u32, indicatif::ProgressBar> = BTreeMap::new();
    let mut printed: BTreeMap<u32, String> = BTreeMap::new();
    let deadline = started + timeout;
    let outcome = loop {
        let r: Rollout = client.get(&path(id))?;
        for w in &r.waves {
            let text = wave_line(w, r.waves.len(), 20);
            if fancy {
                let bar = bars.entry(w.number).or_insert_with(|| {
                    let b = multi.add(indicatif::ProgressBar::new(u64::from(w.size)));
                    b.set_style(
                        indicatif::ProgressStyle::with_template("{msg}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    b
                });
                bar.set_position(u64::from(w.healthy + w.failed));
                bar.set_message(text);
            } else if printed.get(&w.number) != Some(&text) && w.state != "pending" {
                printer.line(&text);
                printed.insert(w.number, text);
            }
        }
        match r.state.as_str() {
            "running" => {}
            "done" => break Ok(r),
            _ => break Err(r),
        }
        // Read again on the next event about this rollout (or its devices).
        let woke = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Ok(e)) if e.kind.starts_with("rollout.") && e.subject == r.id => break Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => break Err("broke"),
                Err(RecvTimeoutError::Timeout) => break Err("timeout"),
            }
        };
        if let Err(why) = woke {
            for b in bars.values() {
                b.finish_and_clear();
            }
            if why == "timeout" {
                bail!(
                    "rollout {id} is still {} after {} s (wave {} of {}); it goes on at the CO — \
                     follow it with `edgectl co rollout status {id} --wait`",
                    r.state,
                    timeout.as_secs(),
                    r.wave,
                    r.waves.len()
                );
            }
            bail!("the CO's event stream broke while following rollout {id}");
        }
    };
    for b in bars.values() {
        b.finish_and_clear();
    }
    let took = started.elapsed().as_secs_f64();
    match outcome {
        Ok(r) => {
            printer.data(&r);
            if fancy {
                for w in &r.waves {
                    printer.line(&wave_line(w, r.waves.len(), 20));
                }
            }
            let healthy: u32 = r.waves.iter().map(|w| w.healthy).sum();
            let more = r
                .reason
                .as_ref()
                .map_or_else(String::new, |x| format!(" ({x})"));
            printer.line(&format!(
                "rollout {} done: {healthy} of {} deployment(s) healthy in {took:.1} s{more}",
                r.id, r.total
            ));
            Ok(())
        }
        Err(r) => {
            printer.data(&r);
            let failed: Vec<String> = r
                .targets
                .iter()
                .filter(|t| t.error.is_some() || t.state == "timed-out")
                .map(|t| {
                    format!(
                        "  {}/{}: {}{}",
                        t.site,
                        t.device,
                        t.state,
                        t.error
                            .as_ref()
                            .map_or_else(String::new, |e| format!(" — {e}"))
                    )
                })
                .collect();
            let next = match r.state.as_str() {
                "paused" => format!(
                    "; `edgectl co rollout resume {0}` goes on, `edgectl co rollout undo {0}` puts the previous deployments back",
                    r.id
                ),
                _ => String::new(),
            };
            bail!(
                "rollout {} {}: {}{next}\n{}",
                r.id,
                r.state,
                r.reason.as_deref().unwrap_or("stopped"),
                failed.join("\n")
            )
        }
    }
}
