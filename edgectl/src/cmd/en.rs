//! `edgectl en …`: the edge node on this host, through its operations socket.

use std::process::ExitCode;
use std::time::Duration;

use edge_api::node::{LogChunk, NodeStatus, OpsClient, WorkloadMetrics, WorkloadRow};

use crate::cli::{EnArgs, EnCommand};
use crate::printer::Printer;

/// A workload name as one URL path segment (`/` becomes `%2F`).
fn segment(workload: &str) -> String {
    workload
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s.to_owned()
    }
}

fn print_rows(rows: &[WorkloadRow], printer: Printer) {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.workload.clone(),
                r.kind.clone(),
                dash(&r.desired_version),
                dash(&r.running_version),
                if r.held {
                    format!("{} (stopped)", r.state)
                } else {
                    r.state.clone()
                },
                r.restarts.to_string(),
                r.last_error.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    printer.table(
        &[
            "WORKLOAD",
            "TYPE",
            "DESIRED",
            "RUNNING",
            "STATE",
            "RESTARTS",
            "LAST ERROR",
        ],
        &table,
    );
}

pub(crate) fn en(args: EnArgs, printer: Printer) -> anyhow::Result<ExitCode> {
    let ops = OpsClient::new(&args.data.join("en.sock"));
    match args.command {
        EnCommand::List => {
            let node: NodeStatus = ops.get("/v1/node")?;
            let rows: Vec<WorkloadRow> = ops.get("/v1/workloads")?;
            if printer.is_human() {
                let heard = match (&node.last_heard, node.last_heard_seconds) {
                    (Some(at), Some(s)) => format!("{at} ({s} s ago)"),
                    _ => "not since the node started".to_owned(),
                };
                printer.line(&format!("node {} polling {}", node.device, node.server));
                if let (Some(why), Some(since)) = (&node.refused, &node.refused_since) {
                    printer.line(&format!(
                        "refused: the fleet manager refuses this node's identity since {since}: {why}"
                    ));
                }
                printer.line(&format!(
                    "last heard: {heard}; manifest version: {}; reports queued: {}",
                    node.manifest_version
                        .map_or_else(|| "none".to_owned(), |v| v.to_string()),
                    node.queued_reports
                ));
                if rows.is_empty() {
                    printer.line("no workloads");
                } else {
                    printer.line("");
                    print_rows(&rows, printer);
                }
            } else {
                printer.data(&serde_json::json!({ "node": node, "workloads": rows }));
            }
        }
        EnCommand::Start { workload } => act(&ops, &workload, "start", printer)?,
        EnCommand::Stop { workload } => act(&ops, &workload, "stop", printer)?,
        EnCommand::Restart { workload } => act(&ops, &workload, "restart", printer)?,
        EnCommand::Logs {
            workload,
            follow,
            tail,
            since,
        } => logs(&ops, &workload, follow, tail, since, printer)?,
        EnCommand::Metrics { workload } => {
            let m: WorkloadMetrics =
                ops.get(&format!("/v1/workloads/{}/metrics", segment(&workload)))?;
            if printer.is_human() {
                let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1_048_576.0);
                printer.table(
                    &["WORKLOAD", "STATE", "RESTARTS", "MEMORY", "CPU TIME", "LOG"],
                    &[vec![
                        m.workload.clone(),
                        m.state.clone(),
                        m.restarts.to_string(),
                        m.rss_bytes.map_or_else(|| "-".to_owned(), mib),
                        m.cpu_ms.map_or_else(
                            || "-".to_owned(),
                            |c| format!("{:.2} s", c as f64 / 1000.0),
                        ),
                        mib(m.log_bytes),
                    ]],
                );
            } else {
                printer.data(&m);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Print a workload's log: the last piece, or the lines `tail` and `since`
/// choose (all of them, in pieces, up to where the log ended when asked);
/// then, with `follow`, what it writes next.
fn logs(
    ops: &OpsClient,
    workload: &str,
    follow: bool,
    tail: Option<usize>,
    since: Option<i64>,
    printer: Printer,
) -> anyhow::Result<()> {
    let base = format!("/v1/workloads/{}/logs", segment(workload));
    let mut query = Vec::new();
    if let Some(n) = tail {
        query.push(format!("tail={n}"));
    }
    if let Some(t) = since {
        query.push(format!("since={t}"));
    }
    let first = if query.is_empty() {
        base.clone()
    } else {
        format!("{base}?{}", query.join("&"))
    };
    let mut chunk: LogChunk = ops.get(&first)?;
    // What the log held when asked, for a window that may span pieces.
    let end = if query.is_empty() { 0 } else { chunk.end };
    loop {
        printer.raw(chunk.text.as_bytes());
        let more = chunk.next < end && chunk.next > chunk.offset;
        if !follow && !more {
            return Ok(());
        }
        if !more && chunk.next == chunk.offset {
            std::thread::sleep(Duration::from_millis(500));
        }
        chunk = ops.get(&format!("{base}?offset={}", chunk.next))?;
    }
}

fn act(ops: &OpsClient, workload: &str, action: &str, printer: Printer) -> anyhow::Result<()> {
    let rows: Vec<WorkloadRow> =
        ops.post(&format!("/v1/workloads/{}/{action}", segment(workload)))?;
    if printer.is_human() {
        printer.line(&format!("{action}: {workload}"));
        print_rows(&rows, printer);
    } else {
        printer.data(&rows);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn workload_names_become_one_path_segment() {
        assert_eq!(
            super::segment("hello-wasm-1a2b/api"),
            "hello-wasm-1a2b%2Fapi"
        );
        assert_eq!(super::segment("a b"), "a%20b");
    }
}
