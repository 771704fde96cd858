//! Undeployed rows stay in the deployments list, marked `removing`, until
//! their node reports them `removed`: the CO forgets a deployment as soon
//! as it is out of the site's desired state, but its workload runs on until
//! the node has taken it down. The rows are kept here and put back into
//! every snapshot that no longer lists them. Pure like the rest of
//! `update`.

use crate::state::{State, Tab};

/// Deployment `id` is out of its site's desired state (this TUI undeployed
/// it, or the CO says it was removed): mark its row `removing`, or drop it
/// when its node has already reported it removed.
pub(crate) fn undeployed(state: &mut State, id: &str) {
    let selected = state.selected_key(Tab::Deployments);
    let list = &mut state.snapshot.deployments;
    let Some(at) = list.iter().position(|d| d.id == id) else {
        return;
    };
    if list[at].state.as_deref() == Some("removed") {
        list.remove(at);
        state.removing.remove(id);
    } else if !state.removing.contains_key(id) {
        let row = &mut list[at];
        row.state = Some("removing".into());
        row.state_at = None;
        row.error = None;
        row.stale = false;
        state.removing.insert(id.to_owned(), row.clone());
    }
    state.reselect(Tab::Deployments, selected.as_deref());
}

/// A status report of deployment `id` reached its row in the list: when
/// the row is being removed, `removed` takes it out; another state is kept
/// with it (a failed removal shows as failed, with its reason).
pub(crate) fn reported(state: &mut State, id: &str) {
    if !state.removing.contains_key(id) {
        return;
    }
    let selected = state.selected_key(Tab::Deployments);
    let list = &mut state.snapshot.deployments;
    let Some(at) = list.iter().position(|d| d.id == id) else {
        return;
    };
    if list[at].state.as_deref() == Some("removed") {
        list.remove(at);
        state.removing.remove(id);
    } else {
        state.removing.insert(id.to_owned(), list[at].clone());
    }
    state.reselect(Tab::Deployments, selected.as_deref());
}

/// A new snapshot: the rows being removed are put back as they were kept
/// (the CO no longer lists them, or lists them as before the undeploy).
pub(crate) fn keep(state: &mut State) {
    let list = &mut state.snapshot.deployments;
    for (id, kept) in &state.removing {
        match list.iter_mut().find(|d| d.id == *id) {
            Some(row) => *row = kept.clone(),
            None => list.push(kept.clone()),
        }
    }
}

/// Whether deployment `id` is being removed.
pub(crate) fn is_removing(state: &State, id: &str) -> bool {
    state.removing.contains_key(id)
}
