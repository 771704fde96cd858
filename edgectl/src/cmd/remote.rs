//! `edgectl co logs` and `edgectl co restart`: a deployment's workload on
//! its device, wherever it is, through the CO and the site's LO (the node
//! polls its LO; nothing connects to it). A follow asks again from `next`
//! (the node waits a little for new lines before answering nothing).
//!
//! Exit status: 0 done, 3 the device could not be reached (the message
//! names the hop: the site's LO or the device), 4 nothing to act on (no such
//! deployment or component, not placed on its device yet, no log), 1 any
//! other failure, 2 usage.

use std::process::ExitCode;

use edge_api::node::{LogChunk, WorkloadRow};
use edge_api::routes::{self, encode, fill};
use edge_api::{Client, ClientError};

use crate::cli::{RemoteLogsArgs, RestartArgs};
use crate::printer::Printer;

/// Exit status when a hop to the device is down.
const EXIT_UNREACHABLE: u8 = 3;
/// Exit status when there is nothing to act on.
const EXIT_ABSENT: u8 = 4;

/// The exit status and message of a failed remote call.
fn failed(e: &ClientError, printer: Printer) -> ExitCode {
    printer.error(&e.to_string());
    match e.problem().map(|p| p.status) {
        Some(503 | 504) => ExitCode::from(EXIT_UNREACHABLE),
        Some(404 | 409) => ExitCode::from(EXIT_ABSENT),
        Some(400) => ExitCode::from(crate::EXIT_USAGE),
        _ => ExitCode::from(crate::EXIT_FAILURE),
    }
}

/// Print a deployment's log: the last piece, or what `--tail` and `--since`
/// choose (in pieces, up to where the log ended when asked); then, with
/// `--follow`, what it writes next.
pub(crate) fn logs(
    client: &Client,
    printer: Printer,
    args: &RemoteLogsArgs,
) -> anyhow::Result<ExitCode> {
    let base = fill(routes::DEPLOYMENT_LOGS, &args.deployment);
    let mut query = Vec::new();
    if let Some(c) = &args.component {
        query.push(format!("component={}", encode(c)));
    }
    let component = query.clone();
    if let Some(n) = args.tail {
        query.push(format!("tail={n}"));
    }
    if let Some(t) = args.since {
        query.push(format!("since={t}"));
    }
    let windowed = args.tail.is_some() || args.since.is_some();
    let first = if query.is_empty() {
        base.clone()
    } else {
        format!("{base}?{}", query.join("&"))
    };
    let mut chunk: LogChunk = match client.get(&first) {
        Ok(c) => c,
        Err(e) => return Ok(failed(&e, printer)),
    };
    let end = if windowed { chunk.end } else { 0 };
    loop {
        printer.raw(chunk.text.as_bytes());
        let more = chunk.next < end && chunk.next > chunk.offset;
        if !args.follow && !more {
            return Ok(ExitCode::SUCCESS);
        }
        let mut next = component.clone();
        next.push(format!("offset={}", chunk.next));
        chunk = match client.get(&format!("{base}?{}", next.join("&"))) {
            Ok(c) => c,
            Err(e) => return Ok(failed(&e, printer)),
        };
    }
}

/// Restart a deployment's workload on its device; print its workloads after.
pub(crate) fn restart(
    client: &Client,
    printer: Printer,
    args: &RestartArgs,
) -> anyhow::Result<ExitCode> {
    let mut path = fill(routes::DEPLOYMENT_RESTART, &args.deployment);
    if let Some(c) = &args.component {
        path.push_str(&format!("?component={}", encode(c)));
    }
    let rows: Vec<WorkloadRow> = match client.post(&path, &serde_json::json!({})) {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e, printer)),
    };
    if printer.is_human() {
        printer.line(&format!("restarted: {}", args.deployment));
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.workload.clone(),
                    r.state.clone(),
                    r.restarts.to_string(),
                    r.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                ]
            })
            .collect();
        printer.table(&["WORKLOAD", "STATE", "RESTARTS", "PID"], &table);
    } else {
        printer.data(&rows);
    }
    Ok(ExitCode::SUCCESS)
}
