//! Node operations on a Unix socket (`DATA/en.sock`, mode 0600: only the
//! node's owner may use it), the EdgeX system-management ideas kept thin:
//!
//! - `GET /v1/node`: device, fleet manager, last heard from it, manifest
//!   version, queued reports;
//! - `GET /v1/workloads`: one row per component — desired and running
//!   version, state, restarts, last error;
//! - `POST /v1/workloads/{w}/stop|start|restart`: an operator's hand on one
//!   workload (a stopped one is reported `failed`/`STOPPED` upward, since it
//!   does not run; it stays stopped until started or the daemon restarts);
//! - `GET /v1/workloads/{w}/logs?offset=N`: its log from `offset` (follow by
//!   asking again from `next`); `?tail=N` its last N lines, `?since=MS` the
//!   lines written since then (Unix milliseconds), both at once too
//!   (`logs.rs`); without any, its last 256 KiB;
//! - `GET /v1/workloads/{w}/metrics`: memory, CPU time, restarts, log size.
//!
//! `{w}` is a deployment name, a deployment id or an app id, followed by
//! `/component` (URL-encoded as `%2F`) when the deployment has several.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path as UrlPath, Query, State};
use axum::routing::{get, post};
use edge_api::node::{LogChunk, NodeStatus, WorkloadMetrics, WorkloadRow};
use edge_model::ApplicationDeployment;
use edge_model::MargoDocument as _;

use super::logs::{self, LogQuery, LogTimes};
use super::node::{FindError, Node, StartError, WorkloadRef};
use crate::error::ApiError;
use crate::http::blocking;

/// Bind the socket (replacing a stale one), owner-only.
pub(crate) fn bind(path: &Path) -> anyhow::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt as _;
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        anyhow::bail!(
            "another edge node already serves `{}`; one node per data directory",
            path.display()
        );
    }
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path)
        .map_err(|e| anyhow::anyhow!("cannot listen on `{}`: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// When the logs grew, noted from now on by a thread of its own
/// (`logs.rs`); shared by the socket and remote operations (`remote.rs`).
pub(crate) fn log_times(node: &Arc<Node>) -> Arc<LogTimes> {
    let times = Arc::new(LogTimes::default());
    let sampled = crate::bell::spawn("en-logs", {
        let (node, times) = (Arc::downgrade(node), times.clone());
        move || logs::sampler(node, times)
    });
    if let Err(e) = sampled {
        tracing::warn!(error = %e, "log times are not noted; `--since` shows whole logs");
    }
    times
}

/// Serve until a stop is asked for, then drain.
pub(crate) async fn serve(
    listener: std::os::unix::net::UnixListener,
    node: Arc<Node>,
    times: Arc<LogTimes>,
) {
    let Ok(listener) = tokio::net::UnixListener::from_std(listener) else {
        tracing::error!("cannot serve the operations socket");
        return;
    };
    let app = axum::Router::new()
        .route("/v1/node", get(status))
        .route("/v1/workloads", get(list))
        .route("/v1/workloads/{w}/logs", get(logs))
        .route("/v1/workloads/{w}/metrics", get(metrics))
        .route("/v1/workloads/{w}/{action}", post(act))
        .fallback(|| async { ApiError::not_found("no such operation") })
        .layer(Extension(times))
        .with_state(node);
    crate::http::serve(
        listener,
        None,
        crate::http::Limits::current(),
        crate::stop::requested(),
        move |_| Some(app.clone()),
    )
    .await;
}

async fn status(State(node): State<Arc<Node>>) -> Result<axum::Json<NodeStatus>, ApiError> {
    blocking(move || {
        let heard = node.last_heard();
        let refusal = node.refusal();
        let now = crate::clock::unix_now();
        Ok(axum::Json(NodeStatus {
            device: node.device.clone(),
            server: node.server.clone(),
            last_heard: heard.map(crate::clock::format_unix),
            last_heard_seconds: heard.map(|h| u64::try_from(now - h).unwrap_or(0)),
            refused_since: refusal
                .as_ref()
                .map(|(since, _)| crate::clock::format_unix(*since)),
            refused: refusal.map(|(_, why)| why),
            manifest_version: node.db.meta("desired_version").and_then(|v| v.parse().ok()),
            queued_reports: node.db.queued(),
        }))
    })
    .await
}

/// App version the kept manifest asks for, by deployment id.
fn desired_versions(node: &Node) -> HashMap<String, String> {
    let Ok(Some(set)) = node.db.desired() else {
        return HashMap::new();
    };
    set.docs
        .iter()
        .filter_map(|d| {
            let p = ApplicationDeployment::from_slice(&d.bytes).ok()?;
            let v = p.document.metadata.labels.get("app.version")?.clone();
            Some((d.id.clone(), v))
        })
        .collect()
}

pub(crate) fn rows(node: &Node) -> Vec<WorkloadRow> {
    node.workloads(&desired_versions(node))
}

async fn list(State(node): State<Arc<Node>>) -> Result<axum::Json<Vec<WorkloadRow>>, ApiError> {
    blocking(move || Ok(axum::Json(rows(&node)))).await
}

/// The workload `name` names, or why it names none.
fn find(node: &Node, name: &str) -> Result<WorkloadRef, ApiError> {
    node.find(name).map_err(|e| match e {
        FindError::Unknown(_) | FindError::NoComponent { .. } => ApiError::not_found(e.to_string()),
        FindError::Ambiguous { .. } | FindError::WhichComponent { .. } => {
            ApiError::bad_request(e.to_string())
        }
    })
}

async fn act(
    State(node): State<Arc<Node>>,
    UrlPath((w, action)): UrlPath<(String, String)>,
) -> Result<axum::Json<Vec<WorkloadRow>>, ApiError> {
    blocking(move || {
        let found = find(&node, &w)?;
        act_on(&node, &found, &w, &action)?;
        Ok(axum::Json(rows(&node)))
    })
    .await
}

/// Stop, start or restart (`action`) the workload `found` (named `w`).
pub(crate) fn act_on(
    node: &Node,
    found: &WorkloadRef,
    w: &str,
    action: &str,
) -> Result<(), ApiError> {
    {
        let stop = matches!(action, "stop" | "restart");
        let start = matches!(action, "start" | "restart");
        if !stop && !start {
            return Err(ApiError::not_found(format!(
                "`{action}` is not an operation; use stop, start or restart"
            )));
        }
        if stop {
            node.stop_workload(found);
            tracing::info!(workload = w, "stopped by an operator");
        }
        if start {
            let started = node.start_workload(found).map_err(|e| match e {
                StartError::Gone => ApiError::not_found(format!("`{w}` went away")),
                StartError::NeverStarted => ApiError::conflict(format!(
                    "`{w}` was never started on this node; it starts when its deployment is installed"
                )),
                StartError::NoRuntime(kind) => {
                    ApiError::conflict(format!("no `{kind}` runtime here"))
                }
                StartError::Driver(e) => ApiError::conflict(format!("`{w}` does not start: {e}")),
            })?;
            if started {
                tracing::info!(workload = w, "started by an operator");
            }
        }
        node.observe();
        Ok(())
    }
}

async fn logs(
    State(node): State<Arc<Node>>,
    Extension(times): Extension<Arc<LogTimes>>,
    UrlPath(w): UrlPath<String>,
    Query(q): Query<LogQuery>,
) -> Result<axum::Json<LogChunk>, ApiError> {
    blocking(move || {
        let found = find(&node, &w)?;
        let Some(path) = node.log_path(&found) else {
            return Ok(axum::Json(LogChunk {
                offset: 0,
                next: 0,
                end: 0,
                text: String::new(),
            }));
        };
        logs::read(&path, q, &times).map(axum::Json).map_err(|e| {
            ApiError::internal(
                &anyhow::Error::new(e).context(format!("cannot read the log of `{w}`")),
            )
        })
    })
    .await
}

/// (resident bytes, CPU milliseconds) of a process, from `/proc`.
fn proc_usage(pid: u32) -> (Option<u64>, Option<u64>) {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024);
    let cpu = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces).
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some(ticks * 10)
        });
    (rss, cpu)
}

async fn metrics(
    State(node): State<Arc<Node>>,
    UrlPath(w): UrlPath<String>,
) -> Result<axum::Json<WorkloadMetrics>, ApiError> {
    blocking(move || {
        let found = find(&node, &w)?;
        let usage = node
            .usage(&found)
            .ok_or_else(|| ApiError::not_found(format!("`{w}` went away")))?;
        let (rss_bytes, cpu_ms) = usage.pid.map_or((None, None), proc_usage);
        let log_bytes = node
            .log_path(&found)
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        Ok(axum::Json(WorkloadMetrics {
            workload: w,
            state: usage.state.to_string(),
            restarts: usage.restarts,
            rss_bytes,
            cpu_ms,
            log_bytes,
        }))
    })
    .await
}
