//! `edgectl co list`: apps, sites, devices or deployments as a table (more
//! columns with `-o wide`) or data, narrowed by `--site` and by labels
//! (`-l key=value`), ordered by any column (`--sort-by`), and with `-w`
//! kept current: after the list, every row that changes is printed again
//! as the CO's events say something happened, until interrupted.
//!
//! Each kind is first turned into [`Listing`] rows (the value for scripts,
//! the cells for people, the labels a selector matches); filtering, sorting
//! and printing are the same for all four.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use edge_api::Client;
use edge_api::routes;
use edge_api::types::{AppSummary, DeploymentSummary, Device, Site};

use crate::cli::{ListArgs, ListWhat};
use crate::printer::Printer;
use crate::usage;

/// What scripts get of a row: the API's own type, so its fields keep
/// their order.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Item {
    App(AppSummary),
    Site(Site),
    Device(Device),
    Deployment(DeploymentSummary),
    #[cfg(test)]
    None,
}

/// One listed thing.
struct Row {
    /// What scripts get.
    value: Item,
    /// What people see, one cell per header (the wide ones last).
    cells: Vec<String>,
    /// The labels `-l` matches (a deployment's are its device's).
    labels: BTreeMap<String, String>,
}

/// A list ready to narrow, sort and print.
struct Listing {
    headers: Vec<&'static str>,
    /// Headers from this one on are shown only with `-o wide`.
    wide_from: usize,
    rows: Vec<Row>,
}

/// Run `co list`.
pub(crate) fn list(client: &Client, printer: Printer, args: &ListArgs) -> anyhow::Result<()> {
    let selector = super::co::parse_pairs(&args.selector, "a label selector; use KEY=VALUE")?;
    if args.what == ListWhat::Apps && !selector.is_empty() {
        usage!("apps have no labels; `-l` narrows sites, devices and deployments");
    }
    // Opened before the first list, so no change between the two is missed.
    let events = if args.watch {
        Some(follow(client))
    } else {
        None
    };
    let first = fetch(client, args, &selector, printer.is_wide())?;
    let mut sort = None;
    if let Some(column) = &args.sort_by {
        sort = Some(column_index(&first, column, printer.is_wide())?);
    }
    let first = sorted(first, sort, args.reverse);
    print_all(printer, &first, args.watch);
    let Some(events) = events else {
        return Ok(());
    };
    let widths = widths(&first, printer.is_wide());
    let mut shown: BTreeMap<String, Vec<String>> =
        first.rows.into_iter().map(|r| (key(&r), r.cells)).collect();
    loop {
        match events.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        // Changes come in bursts (a deploy to 100 devices): list once
        // after a short quiet moment, not once per event.
        let until = Instant::now() + Duration::from_secs(1);
        while let Ok(Ok(())) = events.recv_timeout(
            until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(150)),
        ) {}
        let now = sorted(
            fetch(client, args, &selector, printer.is_wide())?,
            sort,
            args.reverse,
        );
        let mut seen = BTreeMap::new();
        for row in now.rows {
            let k = key(&row);
            if shown.get(&k) != Some(&row.cells) {
                print_row(printer, &widths, &row);
            }
            seen.insert(k, row.cells);
        }
        for (k, cells) in &shown {
            if !seen.contains_key(k) {
                printer.line(&format!("{k}  (removed)"));
                printer.record(&serde_json::json!({ "removed": k, "was": cells }));
            }
        }
        shown = seen;
    }
}

/// The key of a row: its first cell (an id or name).
fn key(row: &Row) -> String {
    row.cells.first().cloned().unwrap_or_default()
}

/// The events stream as "something happened" signals, reconnected after a
/// lost connection; an error when it cannot be opened at all.
fn follow(client: &Client) -> mpsc::Receiver<anyhow::Result<()>> {
    let (tx, rx) = mpsc::channel();
    let client = client.clone();
    std::thread::spawn(move || {
        let mut last = None;
        let mut connected = false;
        loop {
            match client.events(last) {
                Ok(stream) => {
                    connected = true;
                    for e in stream {
                        let Ok(e) = e else { break };
                        if e.id > 0 {
                            last = Some(e.id);
                        }
                        if tx.send(Ok(())).is_err() {
                            return;
                        }
                    }
                }
                Err(e) if !connected => {
                    let _ = tx.send(Err(e.into()));
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_secs(1)),
            }
        }
    });
    rx
}

fn fetch(
    client: &Client,
    args: &ListArgs,
    selector: &BTreeMap<String, String>,
    wide: bool,
) -> anyhow::Result<Listing> {
    let at_site = |route: &str| match &args.site {
        Some(s) => format!("{route}?site={}", routes::encode(s)),
        None => route.to_owned(),
    };
    let mut listing = match args.what {
        ListWhat::Apps => apps(client.get(routes::APPS)?),
        ListWhat::Sites => {
            let deployments: Vec<DeploymentSummary> = if wide {
                client.get(routes::DEPLOYMENTS)?
            } else {
                Vec::new()
            };
            sites(client.get(routes::SITES)?, &deployments)
        }
        ListWhat::Devices => devices(client.get(&at_site(routes::DEVICES))?),
        ListWhat::Deployments => {
            let list: Vec<DeploymentSummary> = client.get(&at_site(routes::DEPLOYMENTS))?;
            let devices: Vec<Device> = if selector.is_empty() {
                Vec::new()
            } else {
                client.get(&at_site(routes::DEVICES))?
            };
            deployments(list, &devices)
        }
    };
    listing
        .rows
        .retain(|r| selector.iter().all(|(k, v)| r.labels.get(k) == Some(v)));
    Ok(listing)
}

fn apps(list: Vec<AppSummary>) -> Listing {
    Listing {
        headers: vec![
            "ID",
            "NAME",
            "LATEST",
            "VERSIONS",
            "PROFILES",
            "ALL VERSIONS",
            "DESCRIPTION",
        ],
        wide_from: 5,
        rows: list
            .iter()
            .map(|a| Row {
                value: Item::App(a.clone()),
                cells: vec![
                    a.id.clone(),
                    a.name.clone(),
                    a.latest.clone(),
                    a.versions.len().to_string(),
                    a.profiles.join(","),
                    a.versions.join(","),
                    a.description.clone().unwrap_or_else(|| "-".into()),
                ],
                labels: BTreeMap::new(),
            })
            .collect(),
    }
}

fn sites(list: Vec<Site>, deployments: &[DeploymentSummary]) -> Listing {
    Listing {
        headers: vec!["SITE", "DEVICES", "LABELS", "CREATED", "DEPLOYMENTS"],
        wide_from: 4,
        rows: list
            .into_iter()
            .map(|s| Row {
                value: Item::Site(s.clone()),
                cells: vec![
                    s.name.clone(),
                    s.devices.to_string(),
                    super::co::labels_text(&s.labels),
                    s.created_at.clone(),
                    deployments
                        .iter()
                        .filter(|d| d.site == s.name)
                        .count()
                        .to_string(),
                ],
                labels: s.labels,
            })
            .collect(),
    }
}

/// What a device reported it can run and hold, in a few words.
fn capacity(d: &Device) -> (String, String) {
    let Some(c) = &d.capabilities else {
        return ("-".into(), "-".into());
    };
    let props = &c["properties"];
    let types = Some(edge_model::artifact::deployment_types(c).join(","))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "-".into());
    let r = &props["resources"];
    let cpu = r["cpu"]["cores"].as_f64().map(|c| format!("{c} cpu"));
    let mem = r["memory"].as_str().map(|m| format!("{m} memory"));
    let size = [cpu, mem]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    (types, if size.is_empty() { "-".into() } else { size })
}

fn devices(list: Vec<Device>) -> Listing {
    Listing {
        headers: vec![
            "DEVICE",
            "SITE",
            "DEPLOYMENTS",
            "LAST HEARD",
            "IDENTITY",
            "LABELS",
            "TYPES",
            "CAPACITY",
            "REGISTERED",
        ],
        wide_from: 6,
        rows: list
            .into_iter()
            .map(|d| {
                let (types, size) = capacity(&d);
                Row {
                    value: Item::Device(d.clone()),
                    cells: vec![
                        d.id.clone(),
                        d.site.clone(),
                        d.deployments.len().to_string(),
                        d.last_heard.clone().unwrap_or_else(|| "never".into()),
                        super::co::identity_text(d.identity.as_ref()),
                        super::co::labels_text(&d.labels),
                        types,
                        size,
                        d.created_at.clone(),
                    ],
                    labels: d.labels,
                }
            })
            .collect(),
    }
}

fn deployments(list: Vec<DeploymentSummary>, devices: &[Device]) -> Listing {
    let labels: BTreeMap<&str, &BTreeMap<String, String>> =
        devices.iter().map(|d| (d.id.as_str(), &d.labels)).collect();
    let cells = super::co::deployment_rows(&list);
    let mut headers = super::co::DEPLOYMENT_HEADER.to_vec();
    let wide_from = headers.len();
    headers.extend(["NAME", "COMMIT", "CREATED", "REPORTED"]);
    Listing {
        headers,
        wide_from,
        rows: list
            .iter()
            .zip(cells)
            .map(|(d, mut cells)| {
                cells.extend([
                    d.name.clone().unwrap_or_else(|| "-".into()),
                    d.commit.get(..12).unwrap_or(&d.commit).to_owned(),
                    d.created_at.clone(),
                    d.state_at.clone().unwrap_or_else(|| "-".into()),
                ]);
                Row {
                    value: Item::Deployment(d.clone()),
                    cells,
                    labels: labels
                        .get(d.device.as_str())
                        .map(|l| (*l).clone())
                        .unwrap_or_default(),
                }
            })
            .collect(),
    }
}

/// Fold a column name for matching: `last-heard`, `LAST_HEARD` and
/// `"last heard"` are the same column.
fn fold(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn column_index(listing: &Listing, column: &str, wide: bool) -> anyhow::Result<usize> {
    let shown = if wide {
        listing.headers.len()
    } else {
        listing.wide_from
    };
    if let Some(i) = listing.headers.iter().position(|h| fold(h) == fold(column)) {
        return Ok(i);
    }
    let names: Vec<String> = listing.headers[..shown]
        .iter()
        .map(|h| h.to_lowercase().replace(' ', "-"))
        .collect();
    let hint = edge_model::suggest::did_you_mean(column, names.iter().map(String::as_str))
        .map_or_else(String::new, |s| format!("did you mean `{s}`? "));
    usage!(
        "no column `{column}` to sort by; {hint}the columns are: {}",
        names.join(", ")
    )
}

/// Order text as people do: numbers by value (`9` before `10`), the rest
/// by text; ties keep the server's order.
fn sorted(mut listing: Listing, column: Option<usize>, reverse: bool) -> Listing {
    if let Some(i) = column {
        let cell = |r: &Row| r.cells.get(i).cloned().unwrap_or_default();
        listing.rows.sort_by(|a, b| {
            let (a, b) = (cell(a), cell(b));
            match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.total_cmp(&y),
                _ => a.cmp(&b),
            }
        });
    }
    if reverse {
        listing.rows.reverse();
    }
    listing
}

fn shown_headers(listing: &Listing, wide: bool) -> usize {
    if wide {
        listing.headers.len()
    } else {
        listing.wide_from
    }
}

/// The whole list; for scripts one array, or with `watch` one record per
/// row, as the changes after it come.
fn print_all(printer: Printer, listing: &Listing, watch: bool) {
    let n = shown_headers(listing, printer.is_wide());
    if watch {
        for r in &listing.rows {
            printer.record(&r.value);
        }
    } else {
        let values: Vec<&Item> = listing.rows.iter().map(|r| &r.value).collect();
        printer.data(&values);
    }
    let rows: Vec<Vec<String>> = listing
        .rows
        .iter()
        .map(|r| r.cells.iter().take(n).cloned().collect())
        .collect();
    printer.table(&listing.headers[..n], &rows);
}

/// Column widths of the first table, so `-w` rows line up under it.
fn widths(listing: &Listing, wide: bool) -> Vec<usize> {
    let n = shown_headers(listing, wide);
    let mut w: Vec<usize> = listing.headers[..n]
        .iter()
        .map(|h| h.chars().count())
        .collect();
    for r in &listing.rows {
        for (w, c) in w.iter_mut().zip(&r.cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    w
}

fn print_row(printer: Printer, widths: &[usize], row: &Row) {
    let n = widths.len();
    let mut line = String::new();
    for (i, cell) in row.cells.iter().take(n).enumerate() {
        let w = widths.get(i).copied().unwrap_or(0);
        if i + 1 == n {
            line.push_str(cell);
        } else {
            line.push_str(&format!("{cell:<w$}  "));
        }
    }
    printer.line(line.trim_end());
    printer.record(&row.value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(cells: &[&[&str]]) -> Listing {
        Listing {
            headers: vec!["DEVICE", "LAST HEARD", "DEPLOYMENTS"],
            wide_from: 3,
            rows: cells
                .iter()
                .map(|c| Row {
                    value: Item::None,
                    cells: c.iter().map(|s| (*s).to_owned()).collect(),
                    labels: BTreeMap::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn columns_are_named_loosely_and_a_typo_is_a_usage_error() {
        let l = listing(&[]);
        assert_eq!(column_index(&l, "last-heard", false).unwrap(), 1);
        assert_eq!(column_index(&l, "LAST_HEARD", false).unwrap(), 1);
        let e = column_index(&l, "deployment", false).unwrap_err();
        assert!(e.downcast_ref::<crate::Usage>().is_some());
        let text = e.to_string();
        assert!(text.contains("did you mean `deployments`?"), "{text}");
        assert!(text.contains("device, last-heard, deployments"), "{text}");
    }

    #[test]
    fn numbers_sort_by_value_and_reverse_turns_it_round() {
        let l = listing(&[&["b", "x", "10"], &["a", "y", "9"], &["c", "z", "100"]]);
        let by = |l, col, rev| {
            sorted(l, Some(col), rev)
                .rows
                .iter()
                .map(|r| r.cells[0].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(by(l, 2, false), ["a", "b", "c"]);
        let l = listing(&[&["b", "x", "10"], &["a", "y", "9"], &["c", "z", "100"]]);
        assert_eq!(by(l, 0, true), ["c", "b", "a"]);
    }
}
