//! `--wait` of `co deploy` and `co undeploy`: follow the CO's event stream
//! (opened before the change is made, so nothing is missed) until every
//! device has reported the change done, one has failed, or the time is up.
//! On a terminal a spinner per device shows its state; otherwise one plain
//! line per change of state, with no escape codes.

use std::collections::BTreeMap;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::bail;
use edge_api::events::Events;

use crate::printer::Printer;

/// What the wait is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    /// `installed` on every device.
    Installed,
    /// `removed` on every device.
    Removed,
}

impl Goal {
    fn state(self) -> &'static str {
        match self {
            Goal::Installed => "installed",
            Goal::Removed => "removed",
        }
    }
}

/// One deployment being waited for.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) id: String,
    pub(crate) device: String,
    /// Its state when the wait starts (`pending` when not known).
    pub(crate) state: Option<String>,
    /// Changed in place: a report counts only once it is about the new
    /// document (the event's `current`), since a report of the version it
    /// had may still be on its way.
    pub(crate) fresh: bool,
}

impl Target {
    /// A deployment just made, or removed.
    pub(crate) fn new(id: &str, device: &str) -> Self {
        Self {
            id: id.to_owned(),
            device: device.to_owned(),
            state: None,
            fresh: false,
        }
    }
}

struct Row {
    device: String,
    state: String,
    fresh: bool,
    error: Option<String>,
    bar: Option<indicatif::ProgressBar>,
}

impl Row {
    fn text(&self) -> String {
        match &self.error {
            Some(e) => format!("{:<16} {} — {e}", self.device, self.state),
            None => format!("{:<16} {}", self.device, self.state),
        }
    }
}

/// Wait on `events` for `targets` to reach `goal` within `timeout`.
pub(crate) fn wait(
    events: Events,
    targets: &[Target],
    goal: Goal,
    timeout: Duration,
    printer: Printer,
) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    let started = Instant::now();
    let fancy = printer.is_human() && std::io::stderr().is_terminal();
    let multi = indicatif::MultiProgress::new();
    let mut rows: BTreeMap<String, Row> = targets
        .iter()
        .map(|t| {
            let mut row = Row {
                device: t.device.clone(),
                state: t.state.clone().unwrap_or_else(|| "pending".into()),
                fresh: t.fresh,
                error: None,
                bar: None,
            };
            if fancy {
                let bar = multi.add(indicatif::ProgressBar::new_spinner());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar.set_message(row.text());
                row.bar = Some(bar);
            }
            (t.id.clone(), row)
        })
        .collect();
    // The stream blocks on reads; a thread hands its events over, so the
    // deadline holds even while the CO is silent.
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for e in events {
            if tx.send(e).is_err() {
                break;
            }
        }
    });
    let deadline = started + timeout;
    let outcome = loop {
        let done = rows
            .values()
            .filter(|r| !r.fresh && r.state == goal.state())
            .count();
        if done == rows.len() {
            break Ok(());
        }
        if rows.values().any(|r| !r.fresh && r.state == "failed") {
            break Err("failed");
        }
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(e)) if e.kind == "status" => {
                let Some(row) = rows.get_mut(&e.subject) else {
                    continue;
                };
                let state = e.data["state"].as_str().unwrap_or_default().to_owned();
                if row.fresh {
                    // The CO says whether a report is about the deployment's
                    // document now; without that, the first report of
                    // another state marks the change taken up.
                    match e.data["current"].as_bool() {
                        Some(false) => continue,
                        Some(true) => {}
                        None if state == goal.state() => continue,
                        None => {}
                    }
                    row.fresh = false;
                }
                if state == row.state {
                    continue;
                }
                row.state = state;
                row.error = e.data["error"].as_str().map(str::to_owned);
                match &row.bar {
                    Some(bar) => bar.set_message(row.text()),
                    None => printer.line(&row.text()),
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => break Err("broke"),
            Err(RecvTimeoutError::Timeout) => break Err("timeout"),
        }
    };
    // Spinners go; each device's last state stays, as a plain line.
    for row in rows.values() {
        if let Some(bar) = &row.bar {
            bar.finish_and_clear();
            printer.line(&row.text());
        }
    }
    let took = started.elapsed().as_secs_f64();
    let summary: Vec<serde_json::Value> = rows
        .iter()
        .map(|(id, r)| serde_json::json!({"deployment": id, "device": r.device, "state": r.state, "error": r.error}))
        .collect();
    printer
        .data(&serde_json::json!({"done": outcome.is_ok(), "seconds": took, "devices": summary}));
    match outcome {
        Ok(()) => {
            printer.line(&format!(
                "{} on {} device(s) in {took:.1} s",
                goal.state(),
                rows.len()
            ));
            Ok(())
        }
        Err(why) => {
            let lines: Vec<String> = rows
                .values()
                .filter(|r| r.state != goal.state())
                .map(|r| format!("  {}", r.text()))
                .collect();
            let head = match why {
                "failed" => format!(
                    "not {} everywhere: a device reported a failure",
                    goal.state()
                ),
                "timeout" => format!(
                    "not {} everywhere within {} s",
                    goal.state(),
                    timeout.as_secs()
                ),
                _ => "the CO's event stream broke before every device reported".to_owned(),
            };
            bail!("{head}:\n{}", lines.join("\n"))
        }
    }
}
