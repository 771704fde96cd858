//! The log pane's part of `update`: open it on a deployment, learn which
//! edge node runs on this host, and follow the log on ticks: from that node
//! when it runs the workload, else from whatever device does, through the
//! CO and the site's LO. When a remote read fails before any text came, the
//! pane says why as the CO put it (the LO or the device not reachable, the
//! deployment not placed yet, no log) and asks again on ticks. Pure like the
//! rest of `update`.

use edge_api::types::DeploymentSummary;

use crate::backend::{LocalNode, LogPiece};
use crate::state::{LOG_KEEP, LogAccess, LogPane, State, deployment_label};
use crate::update::Cmd;

/// Open the log pane on `d`; reads start once it is known to be readable.
pub(crate) fn open(state: &mut State, d: &DeploymentSummary) -> Vec<Cmd> {
    state.logs = Some(LogPane {
        deployment: d.id.clone(),
        device: d.device.clone(),
        label: deployment_label(d),
        access: LogAccess::Asking,
        text: String::new(),
        read: false,
        next: 0,
        waiting: false,
        error: None,
        scroll: 0,
    });
    match &state.node {
        Some(LocalNode::Unnamed | LocalNode::Device(_)) => decide(state),
        _ => ask(state).into_iter().collect(),
    }
}

/// Ask which node runs here, unless that is on its way.
fn ask(state: &mut State) -> Option<Cmd> {
    if state.node_asked {
        return None;
    }
    state.node_asked = true;
    Some(Cmd::AskNode)
}

/// The answer to which node runs here.
pub(crate) fn node_known(state: &mut State, node: LocalNode) -> Vec<Cmd> {
    state.node_asked = false;
    state.node = Some(node);
    if state.logs.is_some() {
        decide(state)
    } else {
        Vec::new()
    }
}

/// Whether the open pane's log can be read here, now that the node is
/// known; the first read when it can.
fn decide(state: &mut State) -> Vec<Cmd> {
    let Some(pane) = state.logs.as_mut() else {
        return Vec::new();
    };
    pane.access = match &state.node {
        None => LogAccess::Asking,
        Some(LocalNode::Device(here)) if *here == pane.device => LogAccess::Readable,
        Some(_) => LogAccess::Remote,
    };
    if pane.access == LogAccess::Asking || pane.waiting {
        return Vec::new();
    }
    pane.waiting = true;
    vec![read(pane)]
}

/// The read that goes on from where the pane is.
fn read(pane: &LogPane) -> Cmd {
    let (deployment, from) = (pane.deployment.clone(), pane.next);
    if pane.access == LogAccess::Readable {
        Cmd::Logs { deployment, from }
    } else {
        Cmd::RemoteLogs { deployment, from }
    }
}

/// A piece of the log arrived (or did not).
pub(crate) fn piece(state: &mut State, id: &str, result: Result<LogPiece, String>) {
    let Some(pane) = state.logs.as_mut().filter(|p| p.deployment == id) else {
        return;
    };
    pane.waiting = false;
    match result {
        Ok(piece) => {
            pane.error = None;
            if matches!(pane.access, LogAccess::Unavailable(_)) {
                pane.access = LogAccess::Remote;
            }
            pane.read = true;
            pane.text.push_str(&piece.text);
            pane.next = piece.next;
            if pane.text.len() > LOG_KEEP {
                let mut cut = pane.text.len() - LOG_KEEP;
                while !pane.text.is_char_boundary(cut) {
                    cut += 1;
                }
                let cut = pane.text[cut..].find('\n').map_or(cut, |n| cut + n + 1);
                pane.text.drain(..cut);
            }
        }
        // Nothing read yet through the CO: the pane says why instead.
        Err(e) if !pane.read && pane.access != LogAccess::Readable => {
            pane.access = LogAccess::Unavailable(e);
        }
        Err(e) => pane.error = Some(e),
    }
}

/// A tick: read on (from this host's node or through the CO), one read at
/// a time; while this host's node is not known yet, ask again.
pub(crate) fn tick(state: &mut State) -> Option<Cmd> {
    let pane = state.logs.as_mut()?;
    match pane.access {
        LogAccess::Asking => ask(state),
        _ if pane.waiting => None,
        _ => {
            pane.waiting = true;
            Some(read(pane))
        }
    }
}
