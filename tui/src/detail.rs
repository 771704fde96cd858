//! The pane under a list that tells all the CO says about the selected
//! deployment, device or site, one `label  value` line per fact. Pure
//! functions from the state to lines, and one that draws them; the lists
//! themselves are in `view.rs`.

use edge_api::types::{DeploymentSummary, Device, Site};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use serde_json::Value;

use crate::lists::state_rank;
use crate::state::{State, short};
use crate::view::{labels, state_style, when};

/// Width of the label column, without the space after it.
const LABEL: usize = 12;

/// Failed deployments a site's pane names, at most.
const FAILED_SHOWN: usize = 3;

/// Draw `lines` under a rule titled `title`.
pub(crate) fn pane(frame: &mut Frame<'_>, area: Rect, title: &str, lines: Vec<Line<'static>>) {
    if area.height == 0 {
        return;
    }
    let block = Block::new().borders(Borders::TOP).title(title.to_owned());
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// `label      value…`.
fn field(label: &str, value: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::raw(format!("{label:<LABEL$} ")).dim()];
    spans.extend(value);
    Line::from(spans)
}

fn text(label: &str, value: impl Into<String>) -> Line<'static> {
    field(label, vec![Span::raw(value.into())])
}

/// A deployment: its id, its state and since when, and its error; one
/// being removed says what it waits for.
pub(crate) fn deployment(state: &State, d: &DeploymentSummary) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::raw(format!("{}  ", d.id)),
        Span::raw(format!("created {}", when(&d.created_at))).dim(),
    ])];
    let shown = d.state.as_deref().unwrap_or("no report yet");
    let mut status = vec![Span::styled(
        shown.to_owned(),
        state_style(d.state.as_deref()),
    )];
    if let Some(at) = &d.state_at {
        status.push(Span::raw(format!(" since {}", when(at))).dim());
    }
    if !d.commit.is_empty() {
        status.push(Span::raw(format!("  commit {}", short(&d.commit))).dim());
    }
    lines.push(Line::from(status));
    if let Some(error) = &d.error {
        lines.push(Line::styled(error.clone(), Style::new().fg(Color::Red)));
    }
    if crate::removal::is_removing(state, &d.id) {
        lines.push(Line::from(format!(
            "Undeployed: listed until {} reports it removed.",
            d.device
        )));
    }
    lines
}

/// What a device's capabilities report says, read leniently (every part
/// may be missing).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Capabilities {
    /// `vendor …, model …, serial …`, the parts given.
    pub(crate) hardware: Vec<String>,
    /// CPU cores in all.
    pub(crate) cores: Option<f64>,
    /// Their architectures, each once.
    pub(crate) architectures: Vec<String>,
    pub(crate) memory: Option<String>,
    pub(crate) storage: Option<String>,
    /// Deployment types it supports (`wasm`, `process`, …; ours read from
    /// `custom` and the report's extension).
    pub(crate) types: Vec<String>,
    /// Runtimes it names (`oci`, `custom`, …).
    pub(crate) runtimes: Vec<String>,
}

/// Read the device's last capabilities report (DeviceCapabilitiesManifest).
pub(crate) fn capabilities(dev: &Device) -> Capabilities {
    let Some(props) = dev.capabilities.as_ref().and_then(|c| c.get("properties")) else {
        return Capabilities::default();
    };
    let string = |key: &str| props.get(key).and_then(Value::as_str).map(str::to_owned);
    let strings = |key: &str| -> Vec<String> {
        props
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let hardware = [
        ("vendor", "vendor"),
        ("model", "modelNumber"),
        ("serial", "serialNumber"),
    ]
    .into_iter()
    .filter_map(|(name, key)| string(key).map(|v| format!("{name} {v}")))
    .collect();
    let cpus: Vec<&Value> = props
        .get("cpus")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let cores = cpus
        .iter()
        .filter_map(|c| c.get("cores").and_then(Value::as_f64))
        .reduce(|a, b| a + b);
    let mut architectures: Vec<String> = Vec::new();
    for arch in cpus
        .iter()
        .filter_map(|c| c.get("architecture").and_then(Value::as_str))
    {
        if !architectures.iter().any(|a| a == arch) {
            architectures.push(arch.to_owned());
        }
    }
    Capabilities {
        hardware,
        cores,
        architectures,
        memory: string("memory"),
        storage: string("storage"),
        types: dev.deployment_types(),
        runtimes: strings("supportedRuntimes"),
    }
}

/// A device: where it is, when it was last heard from, who it is, what it
/// has and runs, its labels and its workloads.
pub(crate) fn device(state: &State, dev: &Device) -> Vec<Line<'static>> {
    let caps = capabilities(dev);
    let reported = dev.capabilities.is_some();
    let mut lines = vec![
        text(
            "site",
            format!("{}, registered {}", dev.site, when(&dev.created_at)),
        ),
        text(
            "last heard",
            dev.last_heard.as_deref().map_or("never".into(), when),
        ),
    ];
    lines.extend(identity(dev, &caps));
    if !reported {
        lines.push(field(
            "capabilities",
            vec![Span::raw("not reported yet").dim()],
        ));
    } else {
        let mut resources = Vec::new();
        if let Some(cores) = caps.cores {
            let arch = if caps.architectures.is_empty() {
                String::new()
            } else {
                format!(" ({})", caps.architectures.join(", "))
            };
            resources.push(format!("cpu {cores} cores{arch}"));
        }
        resources.extend(caps.memory.map(|m| format!("memory {m}")));
        resources.extend(caps.storage.map(|s| format!("storage {s}")));
        lines.push(text("resources", or_none(resources.join(", "))));
        let mut supports = or_none(caps.types.join(", "));
        if !caps.runtimes.is_empty() {
            supports.push_str(&format!(" (runtimes {})", caps.runtimes.join(", ")));
        }
        lines.push(text("supports", supports));
    }
    lines.push(text("labels", or_none(labels(&dev.labels))));
    lines.push(field(
        "workloads",
        states(state, |d| d.device == dev.id, |d| d.app.clone()),
    ));
    lines
}

/// Who a device is: its hardware as it reports it. (The state of its
/// certificate is one more line here once the CO's device record carries
/// it.)
fn identity(dev: &Device, caps: &Capabilities) -> Vec<Line<'static>> {
    if dev.capabilities.is_none() {
        return Vec::new();
    }
    vec![text("identity", or_none(caps.hardware.join(", ")))]
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "none".to_owned()
    } else {
        text
    }
}

/// The deployments `mine` picks, each as `name state`, what needs
/// attention first; `none` when there are none.
fn states(
    state: &State,
    mine: impl Fn(&DeploymentSummary) -> bool,
    name: impl Fn(&DeploymentSummary) -> String,
) -> Vec<Span<'static>> {
    let mut picked: Vec<&DeploymentSummary> = state
        .snapshot
        .deployments
        .iter()
        .filter(|d| mine(d))
        .collect();
    if picked.is_empty() {
        return vec![Span::raw("none")];
    }
    picked.sort_by_key(|d| state_rank(d.state.as_deref()));
    let mut spans = Vec::new();
    for (i, d) in picked.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(", "));
        }
        spans.push(Span::raw(format!("{} ", name(d))));
        let shown = d.state.as_deref().unwrap_or("no report yet");
        spans.push(Span::styled(
            shown.to_owned(),
            state_style(d.state.as_deref()),
        ));
    }
    spans
}

/// When the CO last heard from any device of `site` (through its LO, or
/// directly), and from which: (time, device).
pub(crate) fn last_heard_at<'a>(state: &'a State, site: &str) -> Option<(&'a str, &'a str)> {
    state
        .snapshot
        .devices
        .iter()
        .filter(|d| d.site == site)
        .filter_map(|d| d.last_heard.as_deref().map(|at| (at, d.id.as_str())))
        .max()
}

/// A site: its devices, its deployments by state and the failed ones, when
/// its devices were last heard from, its labels.
pub(crate) fn site(state: &State, site: &Site) -> Vec<Line<'static>> {
    let devices: Vec<&Device> = state
        .snapshot
        .devices
        .iter()
        .filter(|d| d.site == site.name)
        .collect();
    let reported = devices.iter().filter(|d| d.capabilities.is_some()).count();
    let names: Vec<&str> = devices.iter().map(|d| d.id.as_str()).collect();
    let mut lines = vec![text(
        "devices",
        if devices.is_empty() {
            format!("{}", site.devices)
        } else {
            format!(
                "{}: {} ({reported} reported capabilities)",
                site.devices,
                names.join(", ")
            )
        },
    )];
    let deployed: Vec<&DeploymentSummary> = state
        .snapshot
        .deployments
        .iter()
        .filter(|d| d.site == site.name)
        .collect();
    lines.push(field("deployments", tally(&deployed)));
    for d in deployed
        .iter()
        .filter(|d| d.state.as_deref() == Some("failed"))
        .take(FAILED_SHOWN)
    {
        let why = d.error.as_deref().unwrap_or("no reason given");
        lines.push(field(
            "failed",
            vec![
                Span::raw(format!("{} on {}: ", d.app, d.device)),
                Span::styled(why.to_owned(), Style::new().fg(Color::Red)),
            ],
        ));
    }
    lines.push(text(
        "last heard",
        match last_heard_at(state, &site.name) {
            Some((at, from)) => format!("{} from {from}", when(at)),
            None => "never: no device of the site has reported".to_owned(),
        },
    ));
    lines.push(text("labels", or_none(labels(&site.labels))));
    lines.push(text("created", when(&site.created_at)));
    lines
}

/// `3: 1 failed, 1 pending, 1 installed`.
fn tally(deployed: &[&DeploymentSummary]) -> Vec<Span<'static>> {
    let mut spans = vec![Span::raw(deployed.len().to_string())];
    let mut counts: Vec<(usize, Option<&str>, usize)> = Vec::new();
    for d in deployed {
        let s = d.state.as_deref();
        match counts.iter_mut().find(|(_, x, _)| *x == s) {
            Some(c) => c.2 += 1,
            None => counts.push((state_rank(s), s, 1)),
        }
    }
    counts.sort();
    for (i, (_, s, n)) in counts.into_iter().enumerate() {
        spans.push(Span::raw(if i == 0 { ": " } else { ", " }));
        spans.push(Span::styled(
            format!("{n} {}", s.unwrap_or("not reported")),
            state_style(s),
        ));
    }
    spans
}
