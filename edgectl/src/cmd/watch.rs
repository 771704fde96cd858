//! `edgectl co watch`: the CO's event stream as lines, resumed after a lost
//! connection from the last event seen. When the CO stops (it ends the
//! stream saying so), the watch ends too, naming the id to go on from.

use std::time::Duration;

use edge_api::types::Event;
use edge_api::{Client, ClientError};

use crate::printer::Printer;

/// Longest pause between two attempts to reach the CO again.
const MOST_BACKOFF: Duration = Duration::from_secs(10);

/// The `changes` an update event lists, comma-separated.
fn changes(d: &serde_json::Value) -> String {
    let list: Vec<&str> = d
        .get("changes")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|c| c.as_str()).collect())
        .unwrap_or_default();
    list.join(", ")
}

/// One event for people: time, kind, subject, and what it says.
fn line(e: &Event) -> String {
    let d = &e.data;
    let text = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let detail = match e.kind.as_str() {
        "status" => {
            let error = text("error");
            if error.is_empty() {
                format!("{} on {}", text("state"), text("device"))
            } else {
                format!("{} on {}: {error}", text("state"), text("device"))
            }
        }
        "deployment.created" => {
            format!("{} {} to {}", text("app"), text("version"), text("device"))
        }
        "deployment.updated" => format!(
            "{} {} on {}: {}",
            text("app"),
            text("version"),
            text("device"),
            changes(d)
        ),
        "device.updated" | "site.updated" => changes(d),
        "deployment.removed" => format!("{} from {}", text("app"), text("device")),
        "app.added" => format!("version {}", text("version")),
        "rollout.started" => format!(
            "{}: {} deployment(s) in {} wave(s), by {}",
            text("description"),
            d["total"],
            d["waves"],
            text("by")
        ),
        "rollout.wave" => format!(
            "wave {} of {} sent to {} device(s)",
            d["wave"], d["waves"], d["devices"]
        ),
        "rollout.wave-done" => format!("wave {} of {} done", d["wave"], d["waves"]),
        "rollout.device" => {
            let error = text("error");
            let at = format!(
                "{} on {}/{} (wave {})",
                text("state"),
                text("site"),
                text("device"),
                d["wave"]
            );
            if error.is_empty() {
                at
            } else {
                format!("{at}: {error}")
            }
        }
        "rollout.resumed" => format!("by {}", text("by")),
        k if k.starts_with("rollout.") => text("reason").to_owned(),
        _ => String::new(),
    };
    let site = e
        .site
        .as_deref()
        .map(|s| format!(" [{s}]"))
        .unwrap_or_default();
    format!("{}  {:<20} {}{site}  {detail}", e.at, e.kind, e.subject)
}

/// The CO ended the stream because it stops: the watch ends too, saying
/// how to go on from the last event printed once the CO is back.
fn stopped(err: &ClientError, last: Option<u64>) -> anyhow::Error {
    match last {
        Some(id) => anyhow::anyhow!(
            "{err}; the watch ended (once it is back, `edgectl co watch --since {id}` goes on after the last event seen)"
        ),
        None => anyhow::anyhow!("{err}; the watch ended"),
    }
}

/// Follow the stream until interrupted, or until the CO stops.
pub(crate) fn watch(
    client: &Client,
    printer: Printer,
    site: Option<&str>,
    since: Option<u64>,
) -> anyhow::Result<()> {
    let mut last = since;
    let mut backoff = Duration::from_millis(500);
    let mut connected_once = false;
    loop {
        match client.site_events(site, last) {
            Ok(stream) => {
                connected_once = true;
                backoff = Duration::from_millis(500);
                for e in stream {
                    let e = match e {
                        Ok(e) => e,
                        Err(err @ ClientError::Stopping { .. }) => {
                            return Err(stopped(&err, last));
                        }
                        Err(err) => {
                            printer.warn(&format!("the event stream broke: {err}; resuming"));
                            break;
                        }
                    };
                    if e.kind == "reset" {
                        printer.warn("some events were missed (the CO keeps the last 10,000); read the state again with `edgectl co list deployments`");
                        continue;
                    }
                    last = Some(e.id);
                    printer.line(&line(&e));
                    printer.record(&e);
                }
            }
            // The first connection must work, and a refusal (an unknown
            // site) is final; a CO that went away is tried again.
            Err(err) if !connected_once || err.problem().is_some() => return Err(err.into()),
            Err(err) => {
                printer.warn(&format!(
                    "{err}; retrying in {} s",
                    backoff.as_secs().max(1)
                ));
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MOST_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_events_say_which_wave_and_device() {
        let e = |kind: &str, data: serde_json::Value| Event {
            id: 1,
            kind: kind.into(),
            subject: "4".into(),
            site: None,
            at: "2026-12-07T10:00:00Z".into(),
            data,
        };
        let sent = line(&e(
            "rollout.wave",
            serde_json::json!({"wave": 2, "waves": 3, "devices": 5}),
        ));
        assert!(sent.ends_with("wave 2 of 3 sent to 5 device(s)"), "{sent}");
        let failed = line(&e(
            "rollout.device",
            serde_json::json!({"state": "failed", "site": "plant-1", "device": "edge-1",
                               "wave": 1, "error": "exited"}),
        ));
        assert!(
            failed.ends_with("failed on plant-1/edge-1 (wave 1): exited"),
            "{failed}"
        );
        let back = line(&e(
            "rollout.rolled-back",
            serde_json::json!({"reason": "1 device(s) failed"}),
        ));
        assert!(back.ends_with("1 device(s) failed"), "{back}");
    }

    #[test]
    fn a_label_change_says_which_labels() {
        let e = Event {
            id: 8,
            kind: "device.updated".into(),
            subject: "edge-1".into(),
            site: Some("plant-1".into()),
            at: "2026-12-07T10:00:00Z".into(),
            data: serde_json::json!({"labels": {"zone": "a"},
                                     "changes": ["label zone b → a", "label rack removed"]}),
        };
        assert!(
            line(&e).ends_with("edge-1 [plant-1]  label zone b → a, label rack removed"),
            "{}",
            line(&e)
        );
    }

    #[test]
    fn an_update_in_place_says_what_changed_where() {
        let e = Event {
            id: 7,
            kind: "deployment.updated".into(),
            subject: "3f2a".into(),
            site: Some("plant-1".into()),
            at: "2026-12-07T10:00:00Z".into(),
            data: serde_json::json!({"app": "hello", "version": "1.1.0", "device": "edge-1",
                                     "changes": ["version 1.0.0 → 1.1.0", "parameter g \"a\" → \"b\""]}),
        };
        assert!(
            line(&e).ends_with(
                "3f2a [plant-1]  hello 1.1.0 on edge-1: version 1.0.0 → 1.1.0, parameter g \"a\" → \"b\""
            ),
            "{}",
            line(&e)
        );
    }
}
