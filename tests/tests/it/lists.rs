//! `edgectl co list` as kubectl users expect it: singular or plural nouns,
//! `-l` label selectors, `--sort-by` any column, `-o wide` with more
//! columns, and `-w` printing rows again as they change. A real CO.

use std::io::BufRead as _;
use std::process::Stdio;

use edge_tests::co::{Co, ok};

fn usage_error(o: &std::process::Output, want: &str) {
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.starts_with("error: ") && e.contains(want), "{e}");
}

/// The first cells of the table's rows (the header left out).
fn first_column(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn lists_are_narrowed_sorted_widened_and_watched() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    ok(&co.edgectl(&["co", "add", "site", "plant-1", "--label", "region=eu"]));
    ok(&co.edgectl(&["co", "add", "site", "plant-2", "--label", "region=us"]));
    for (id, zone) in [("edge-1", "a"), ("edge-2", "b"), ("edge-10", "a")] {
        let label = format!("zone={zone}");
        ok(&co.edgectl(&[
            "co", "add", "device", id, "--site", "plant-1", "--label", &label,
        ]));
    }

    // Singular and plural are the same noun.
    let plural = ok(&co.edgectl(&["co", "list", "devices"]));
    assert_eq!(ok(&co.edgectl(&["co", "list", "device"])), plural);
    ok(&co.edgectl(&["co", "show", "devices", "edge-1"]));
    ok(&co.edgectl(&["co", "label", "devices", "edge-1", "rack=r1"]));
    ok(&co.edgectl(&["co", "label", "sites", "plant-2", "tier=2"]));
    ok(&co.edgectl(&["co", "add", "sites", "plant-3"]));
    ok(&co.edgectl(&["co", "remove", "sites", "plant-3", "--yes"]));

    // Labels narrow the list, for people and scripts alike.
    let zone_a = ok(&co.edgectl(&["co", "list", "devices", "-l", "zone=a"]));
    assert_eq!(first_column(&zone_a), ["edge-1", "edge-10"], "{zone_a}");
    let json = ok(&co.edgectl(&[
        "co",
        "list",
        "sites",
        "--selector",
        "region=us",
        "-o",
        "json",
    ]));
    let sites: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(sites.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(sites[0]["name"], "plant-2");
    usage_error(
        &co.edgectl(&["co", "list", "apps", "-l", "x=y"]),
        "apps have no labels",
    );
    usage_error(
        &co.edgectl(&["co", "list", "devices", "-l", "zone"]),
        "is not a label selector",
    );

    // Any column orders the rows; numbers by value.
    let by_count = ok(&co.edgectl(&["co", "list", "sites", "--sort-by", "devices"]));
    assert_eq!(first_column(&by_count), ["plant-2", "plant-1"]);
    let reversed = ok(&co.edgectl(&["co", "list", "devices", "--sort-by", "DEVICE", "--reverse"]));
    assert_eq!(first_column(&reversed), ["edge-2", "edge-10", "edge-1"]);
    usage_error(
        &co.edgectl(&["co", "list", "devices", "--sort-by", "last-herd"]),
        "did you mean `last-heard`?",
    );

    // Wide adds columns.
    let plain = ok(&co.edgectl(&["co", "list", "devices"]));
    let wide = ok(&co.edgectl(&["co", "list", "devices", "-o", "wide"]));
    assert!(
        !plain.contains("TYPES") && !plain.contains("REGISTERED"),
        "{plain}"
    );
    let header = wide.lines().next().unwrap();
    assert!(
        header.contains("TYPES") && header.contains("REGISTERED"),
        "{wide}"
    );

    // Watching: the list as JSON lines, then each change as it happens.
    let mut watcher = co
        .edgectl_command(&["co", "list", "devices", "-l", "zone=a", "-w", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read on a thread, so a line that never comes fails the test, not hangs it.
    let (tx, rx) = std::sync::mpsc::channel();
    let out = watcher.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let next_id = || {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the watcher prints the change");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        v["id"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!([next_id(), next_id()], ["edge-1", "edge-10"]);
    // A device outside the selector is not printed; one inside is.
    ok(&co.edgectl(&[
        "co", "add", "device", "edge-3", "--site", "plant-2", "--label", "zone=b",
    ]));
    ok(&co.edgectl(&[
        "co", "add", "device", "edge-4", "--site", "plant-2", "--label", "zone=a",
    ]));
    assert_eq!(next_id(), "edge-4");
    watcher.kill().unwrap();
    watcher.wait().unwrap();
    assert!(co.stop().success());
}
