//! `edgectl co watch`: the CO's event stream as lines, resumed after a lost
//! connection from the last event seen.

use std::time::Duration;

use edge_api::Client;
use edge_api::types::Event;

use crate::printer::Printer;

/// Longest pause between two attempts to reach the CO again.
const MOST_BACKOFF: Duration = Duration::from_secs(10);

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
        "deployment.removed" => format!("{} from {}", text("app"), text("device")),
        "app.added" => format!("version {}", text("version")),
        _ => String::new(),
    };
    let site = e
        .site
        .as_deref()
        .map(|s| format!(" [{s}]"))
        .unwrap_or_default();
    format!("{}  {:<20} {}{site}  {detail}", e.at, e.kind, e.subject)
}

/// Follow the stream until interrupted.
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
        match client.events(last) {
            Ok(stream) => {
                connected_once = true;
                backoff = Duration::from_millis(500);
                for e in stream {
                    let e = match e {
                        Ok(e) => e,
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
                    if site.is_some_and(|s| e.site.as_deref() != Some(s)) {
                        continue;
                    }
                    printer.line(&line(&e));
                    printer.record(&e);
                }
            }
            // The first connection must work; later ones are retried.
            Err(err) if !connected_once => return Err(err.into()),
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
