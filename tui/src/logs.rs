//! The log pane's part of `update`: open it on a deployment, learn which
//! edge node runs on this host (the only one whose logs can be read here),
//! follow the log on ticks while it is readable, and otherwise say why it
//! cannot be: no node's data folder named, the workload on another device,
//! or the named node not answering (asked again on ticks). Pure like the
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
    let device = &pane.device;
    pane.access = match &state.node {
        None => LogAccess::Asking,
        Some(LocalNode::Unnamed) => LogAccess::Elsewhere(format!(
            "No edge node was named, and logs are read from the node's data folder: \
             run `edgectl tui --en-data DIR` on device {device}, the node that runs \
             this workload."
        )),
        Some(LocalNode::Device(here)) if here == device => LogAccess::Readable,
        Some(LocalNode::Device(here)) => LogAccess::Elsewhere(format!(
            "This workload runs on device {device}; its logs are on that node. \
             The edge node on this host is {here}."
        )),
        Some(LocalNode::Unreachable(why)) => LogAccess::Elsewhere(format!(
            "The edge node named with --en-data does not answer, so its logs cannot \
             be read: {why}. Trying again."
        )),
    };
    if pane.access != LogAccess::Readable || pane.waiting {
        return Vec::new();
    }
    pane.waiting = true;
    vec![Cmd::Logs {
        deployment: pane.deployment.clone(),
        from: pane.next,
    }]
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
        Err(e) => pane.error = Some(e),
    }
}

/// A tick: read on while the log is readable; while the named node does
/// not answer, ask it again.
pub(crate) fn tick(state: &mut State) -> Option<Cmd> {
    let pane = state.logs.as_mut()?;
    match pane.access {
        LogAccess::Readable if !pane.waiting => {
            pane.waiting = true;
            Some(Cmd::Logs {
                deployment: pane.deployment.clone(),
                from: pane.next,
            })
        }
        LogAccess::Readable => None,
        LogAccess::Asking | LogAccess::Elsewhere(_) => {
            if matches!(state.node, None | Some(LocalNode::Unreachable(_))) {
                ask(state)
            } else {
                None
            }
        }
    }
}
