//! Where one change's time goes, from the stage markers the daemons log
//! (`--log info,latency=debug`: target `latency`, debug level) and the
//! bench's own clock. Every process runs on this machine, so their wall
//! clocks agree; a stage is the first marker of its kind after the one
//! before it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The log filter that turns the stage markers on.
pub(crate) const LOG: &str = "info,latency=debug";

/// Which daemon logs a marker.
#[derive(Clone, Copy)]
pub(crate) enum Who {
    Co,
    Lo,
    En,
}

/// The stages of one change, in order: (name in the table, who, marker).
pub(crate) const STAGES: [(&str, Who, &str); 9] = [
    (
        "CO: change committed (render, write, commit; from the POST)",
        Who::Co,
        "site changed",
    ),
    (
        "CO: nudge answered (watch reply)",
        Who::Co,
        "watch answered",
    ),
    ("LO: nudge received", Who::Lo, "nudged"),
    (
        "LO: mirror moved (Git fetch or carried objects)",
        Who::Lo,
        "mirror moved",
    ),
    (
        "LO: views rebuilt, serving",
        Who::Lo,
        "serving desired state",
    ),
    (
        "EN: new manifest and documents received",
        Who::En,
        "new state manifest",
    ),
    (
        "EN: reconciled (module fetched, started, confirmed up; `installed` decided)",
        Who::En,
        "reconciled",
    ),
    ("EN: report sent to the LO", Who::En, "report sent"),
    // The LO logs its forward once the CO has answered: no stage of its own.
    (
        "CO: report taken in (LO outbox, forward, intake)",
        Who::Co,
        "reports taken in",
    ),
];

/// Seconds since midnight UTC of `t`.
pub(crate) fn of_day(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        % 86_400.0
}

/// The times (seconds since midnight UTC) of the log lines holding `marker`.
fn marks(log: &str, marker: &str) -> Vec<f64> {
    log.lines()
        .filter(|l| l.contains(marker))
        .filter_map(|l| {
            // `2026-12-07T16:18:14.123456Z  DEBUG …`
            let t = l.get(11..)?.split(['Z', ' ']).next()?;
            let mut p = t.split(':');
            let h: f64 = p.next()?.parse().ok()?;
            let m: f64 = p.next()?.parse().ok()?;
            let s: f64 = p.next()?.parse().ok()?;
            Some(h * 3600.0 + m * 60.0 + s)
        })
        .collect()
}

/// One change: when it was sent (`t0`) and when the bench saw it installed
/// (`total` after `t0`), and the three daemons' logs (CO, LO, EN): the
/// time of each stage after the one before, then the rest to the bench
/// seeing `installed`; `None` when a marker is missing.
pub(crate) fn stages(t0: SystemTime, total: Duration, logs: [&str; 3]) -> Option<Vec<Duration>> {
    let start = of_day(t0);
    let end = start + total.as_secs_f64();
    let mut out = Vec::new();
    let mut at = start;
    for (_, who, marker) in &STAGES {
        let t = marks(logs[*who as usize], marker)
            .into_iter()
            .find(|&t| t >= at && t <= end)?;
        out.push(Duration::from_secs_f64(t - at));
        at = t;
    }
    out.push(Duration::from_secs_f64((end - at).max(0.0)));
    Some(out)
}
