//! `edgectl tui` in a real terminal (tmux, 160x40) against `edged --mode
//! all`: the apps list filtered with `/`, a deploy from the form followed
//! to its result on the device, the workload's log (read on this host's
//! node, and in a second TUI naming no node, through the CO), the device's detail
//! pane, a filter that matches nothing, a sort key, and an undeploy whose
//! row goes once the node has removed it.

use edge_tests::tmux::Tmux;

use crate::walkthrough::{demo, env};

#[test]
fn the_tui_filters_deploys_with_a_result_and_shows_a_devices_detail() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    let env = env(&dir.path().join("home"));
    let (daemon, url) = demo(&cwd, &env, "edged --mode all --data ./demo");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let line = format!(
        "edgectl --server {url} --token-file demo/co/admin.token --ca-file demo/co/ca/ca.crt \
         tui --en-data demo/en"
    );
    let term = Tmux::start(dir.path(), &cwd, &env, &line, (160, 40));
    term.wait_for(&["● live", "No deployments yet"], 30);

    the_apps_list_narrows_as_a_filter_is_typed(&term);
    a_deploy_from_the_form_shows_the_devices_result(&term);
    the_log_pane_reads_the_workload_on_this_node(&term);
    {
        // A second TUI naming no node here: the log comes through the CO
        // and the LO from the node that runs it.
        let line = format!(
            "edgectl --server {url} --token-file demo/co/admin.token --ca-file demo/co/ca/ca.crt tui"
        );
        let there = dir.path().join("remote");
        std::fs::create_dir_all(&there).unwrap();
        let remote = Tmux::start(&there, &cwd, &env, &line, (160, 40));
        the_log_pane_reads_the_workload_through_the_co(&remote);
        remote.send(&["q"]);
        assert_eq!(remote.exit_status(10), 0, "{}", remote.screen());
    }
    the_device_pane_shows_what_the_node_reported(&term);
    an_undeployed_row_goes_once_the_node_removed_it(&term);

    term.send(&["q"]);
    assert_eq!(term.exit_status(10), 0, "{}", term.screen());
    drop(term);
    assert!(daemon.stop().success());
}

/// `4` then `/process`: only hello-process is left, and the status line
/// says so.
fn the_apps_list_narrows_as_a_filter_is_typed(term: &Tmux) {
    term.send(&["4"]);
    term.wait_for(&["hello-compose", "hello-process", "APP ▲"], 10);
    term.send(&["/"]);
    term.send(&["-l", "process"]);
    term.send(&["Enter"]);
    let screen = term.wait_for(&["/process 1 of"], 10);
    assert!(!screen.contains("hello-compose"), "{screen}");
}

/// `d` on the filtered app: site, every device, a greeting of our own,
/// yes; the result popup follows the device to `installed`.
fn a_deploy_from_the_form_shows_the_devices_result(term: &Tmux) {
    term.send(&["d"]);
    term.wait_for(&["Deploy 2/5: site", "demo"], 10);
    term.send(&["Enter"]);
    term.wait_for(
        &["Deploy 3/5: device", "every device of the site that fits"],
        10,
    );
    term.send(&["Enter"]);
    term.wait_for(&["Deploy 5/5: parameters", "Greeting"], 10);
    term.send(&["C-u"]);
    term.send(&["-l", "from the tui"]);
    term.send(&["Enter"]);
    term.wait_for(&["Deploy?", "greeting = from the tui"], 10);
    term.send(&["y"]);
    term.wait_for(&["Deploy hello-process 1.0.0 at demo"], 30);
    let screen = term.wait_for(
        &[
            "hello-process 1.0.0: installed on 1 of 1 device",
            "Every device has answered.",
        ],
        120,
    );
    assert!(!screen.contains("failed"), "{screen}");
    term.send(&["Escape"]);
    term.wait_until(|s| !s.contains("Every device has answered."), 10);
}

/// The workload runs on this host's node: its log shows our greeting.
fn the_log_pane_reads_the_workload_on_this_node(term: &Tmux) {
    term.wait_for(&["hello-process", "installed"], 10);
    term.send(&["l"]);
    term.wait_for(
        &[
            "log: hello-process",
            "hello from edgectl process: from the tui",
        ],
        30,
    );
    term.send(&["Escape"]);
    term.wait_until(|s| !s.contains("log: hello-process"), 10);
}

/// No node named here: the pane reads the workload's log through the CO.
fn the_log_pane_reads_the_workload_through_the_co(term: &Tmux) {
    term.wait_for(&["● live", "hello-process", "installed"], 30);
    term.send(&["l"]);
    term.wait_for(
        &[
            "log: hello-process",
            "hello from edgectl process: from the tui",
        ],
        30,
    );
    term.send(&["Escape"]);
    term.wait_until(|s| !s.contains("log: hello-process"), 10);
}

/// `2`: the device's pane shows its capabilities report; a filter that
/// matches nothing says so and Esc clears it; `s` sorts by the next column.
fn the_device_pane_shows_what_the_node_reported(term: &Tmux) {
    term.send(&["2"]);
    let screen = term.wait_for(
        &[
            " device ",
            "identity",
            "vendor edged",
            "resources",
            "supports",
        ],
        10,
    );
    assert!(screen.contains("process"), "{screen}");
    assert!(screen.contains("hello-process installed"), "{screen}");
    term.send(&["/"]);
    term.send(&["-l", "no-such-device"]);
    term.wait_for(
        &["Nothing matches /no-such-device; Esc clears the filter."],
        10,
    );
    term.send(&["Escape"]);
    term.wait_for(&["DEVICE ▲", "vendor edged"], 10);
    term.send(&["s"]);
    term.wait_for(&["SITE ▲"], 10);
}

/// `1`, `x`, `y`: the row is listed until the node has removed the
/// workload, then it goes.
fn an_undeployed_row_goes_once_the_node_removed_it(term: &Tmux) {
    term.send(&["1"]);
    term.wait_for(&["hello-process", "installed"], 10);
    term.send(&["x"]);
    term.wait_for(&["Undeploy?"], 10);
    term.send(&["y"]);
    term.wait_for(&["No deployments yet"], 60);
}
