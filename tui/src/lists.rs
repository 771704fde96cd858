//! What each tab's list shows and in what order: the rows matching its
//! filter (`/`: a piece of text, any case, found in any of the row's
//! fields), sorted by one of its columns (`s` cycles, `S` reverses), ties
//! kept in the order the CO gave. Pure: the state and a tab in, row indices
//! out. `update` (selection, keys) and `view` (drawing) both ask it, so the
//! rows a key moves over are the rows drawn.

use edge_api::types::{AppSummary, DeploymentSummary, Device, Rollout, Site};

use crate::state::{State, Tab};

/// How one tab's list is narrowed and ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListView {
    /// Rows must contain this (any case); empty: every row.
    pub(crate) filter: String,
    /// The sort column, an index into [`sort_columns`].
    pub(crate) sort: usize,
    /// Sorted from the largest down.
    pub(crate) reverse: bool,
}

impl ListView {
    /// The list as it first shows: by its first column; rollouts newest
    /// first.
    pub(crate) fn new(tab: Tab) -> Self {
        Self {
            filter: String::new(),
            sort: 0,
            reverse: tab == Tab::Rollouts,
        }
    }
}

/// The columns a tab's list can be sorted by, as their headers name them,
/// in the order `s` goes through them.
pub(crate) fn sort_columns(tab: Tab) -> &'static [&'static str] {
    match tab {
        Tab::Deployments => &["APP", "VERSION", "SITE", "DEVICE", "STATE", "SINCE"],
        Tab::Devices => &["DEVICE", "SITE", "WORKLOADS", "LAST HEARD"],
        Tab::Sites => &["SITE", "DEVICES", "DEPLOYMENTS", "CREATED"],
        Tab::Apps => &["APP", "NAME", "LATEST"],
        Tab::Rollouts => &["ID", "STATE", "UPDATED"],
    }
}

/// The sort column of a tab and whether it is reversed.
pub(crate) fn sorted_by(state: &State, tab: Tab) -> (&'static str, bool) {
    let view = &state.lists[tab.index()];
    let columns = sort_columns(tab);
    let title = columns.get(view.sort).or(columns.first()).copied();
    (title.unwrap_or(""), view.reverse)
}

/// A value rows are ordered by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Number(u64),
    Text(String),
}

fn text(s: &str) -> Key {
    Key::Text(s.to_lowercase())
}

fn number(n: usize) -> Key {
    Key::Number(u64::try_from(n).unwrap_or(u64::MAX))
}

/// Where a reported state sorts: what needs attention first.
pub(crate) fn state_rank(state: Option<&str>) -> usize {
    match state {
        Some("failed") => 0,
        Some("installing") => 1,
        Some("pending") => 2,
        Some("removing") => 3,
        None => 4,
        Some("installed") => 5,
        Some(_) => 6,
    }
}

/// The rows of `tab` as drawn: indices into its list (the snapshot's, or
/// the rollouts'), filtered and sorted.
pub(crate) fn visible(state: &State, tab: Tab) -> Vec<usize> {
    let view = &state.lists[tab.index()];
    let needle = view.filter.to_lowercase();
    let (column, reverse) = sorted_by(state, tab);
    let s = &state.snapshot;
    let mut keyed: Vec<(Key, usize)> = match tab {
        Tab::Deployments => pick(&s.deployments, &needle, deployment_fields, |d| {
            deployment_key(d, column)
        }),
        Tab::Devices => pick(&s.devices, &needle, device_fields, |d| {
            device_key(state, d, column)
        }),
        Tab::Sites => pick(&s.sites, &needle, site_fields, |x| {
            site_key(state, x, column)
        }),
        Tab::Apps => pick(&s.apps, &needle, app_fields, |a| app_key(a, column)),
        Tab::Rollouts => pick(&state.rollouts.list, &needle, rollout_fields, |r| {
            rollout_key(r, column)
        }),
    };
    keyed.sort_by(|a, b| {
        let by_key = a.0.cmp(&b.0);
        let by_key = if reverse { by_key.reverse() } else { by_key };
        by_key.then(a.1.cmp(&b.1))
    });
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// The rows of `list` whose fields contain `needle` (lower case), each
/// with its sort key.
fn pick<T>(
    list: &[T],
    needle: &str,
    fields: impl Fn(&T) -> Vec<String>,
    key: impl Fn(&T) -> Key,
) -> Vec<(Key, usize)> {
    list.iter()
        .enumerate()
        .filter(|(_, row)| {
            needle.is_empty()
                || fields(row)
                    .iter()
                    .any(|f| f.to_lowercase().contains(needle))
        })
        .map(|(i, row)| (key(row), i))
        .collect()
}

fn deployment_fields(d: &DeploymentSummary) -> Vec<String> {
    let mut fields = vec![
        d.app.clone(),
        d.version.clone(),
        d.site.clone(),
        d.device.clone(),
        d.profile.clone(),
        d.id.clone(),
        d.state.clone().unwrap_or_default(),
    ];
    fields.extend(d.name.clone());
    fields.extend(d.error.clone());
    fields
}

fn deployment_key(d: &DeploymentSummary, column: &str) -> Key {
    match column {
        "VERSION" => text(&d.version),
        "SITE" => text(&d.site),
        "DEVICE" => text(&d.device),
        "STATE" => number(state_rank(d.state.as_deref())),
        "SINCE" => text(d.state_at.as_deref().unwrap_or("")),
        _ => text(&d.app),
    }
}

fn device_fields(d: &Device) -> Vec<String> {
    let mut fields = vec![d.id.clone(), d.site.clone()];
    fields.extend(d.labels.iter().map(|(k, v)| format!("{k}={v}")));
    fields
}

fn device_key(state: &State, d: &Device, column: &str) -> Key {
    match column {
        "SITE" => text(&d.site),
        "WORKLOADS" => number(
            state
                .snapshot
                .deployments
                .iter()
                .filter(|x| x.device == d.id)
                .count(),
        ),
        "LAST HEARD" => text(d.last_heard.as_deref().unwrap_or("")),
        _ => text(&d.id),
    }
}

fn site_fields(s: &Site) -> Vec<String> {
    let mut fields = vec![s.name.clone()];
    fields.extend(s.labels.iter().map(|(k, v)| format!("{k}={v}")));
    fields
}

fn site_key(state: &State, s: &Site, column: &str) -> Key {
    match column {
        "DEVICES" => Key::Number(s.devices),
        "DEPLOYMENTS" => number(
            state
                .snapshot
                .deployments
                .iter()
                .filter(|d| d.site == s.name)
                .count(),
        ),
        "CREATED" => text(&s.created_at),
        _ => text(&s.name),
    }
}

fn app_fields(a: &AppSummary) -> Vec<String> {
    let mut fields = vec![a.id.clone(), a.name.clone(), a.latest.clone()];
    fields.extend(a.profiles.iter().cloned());
    fields
}

fn app_key(a: &AppSummary, column: &str) -> Key {
    match column {
        "NAME" => text(&a.name),
        "LATEST" => text(&a.latest),
        _ => text(&a.id),
    }
}

fn rollout_fields(r: &Rollout) -> Vec<String> {
    let mut fields = vec![
        r.id.clone(),
        r.state.clone(),
        r.description.clone(),
        r.by.clone(),
    ];
    fields.extend(r.sites.iter().cloned());
    fields
}

fn rollout_key(r: &Rollout, column: &str) -> Key {
    match column {
        "STATE" => text(&r.state),
        "UPDATED" => text(&r.updated_at),
        // Ids are numbers: 10 after 9.
        _ => r.id.parse().map_or_else(|_| text(&r.id), Key::Number),
    }
}

/// The keys of a tab's rows in the order drawn (for tests).
#[cfg(test)]
pub(crate) fn order(state: &State, tab: Tab) -> Vec<String> {
    let keys = state.all_keys(tab);
    visible(state, tab)
        .into_iter()
        .filter_map(|i| keys.get(i).cloned())
        .collect()
}
