//! The `compose` and `container` drivers end to end with real podman
//! (runc, the test's own containers.conf), podman-compose and Debian's
//! docker-registry: CO → LO → EN, status at the CO, crash and restart,
//! kill -9 of the node while it installs and while it runs without a
//! duplicate container, removal.

use std::path::Path;

use edge_tests::co::ok;
use edge_tests::en::En;
use edge_tests::fleet::{Fleet, container_package, deploy_to, fleet, row, wait_state};
use edge_tests::lo::Lo;
use edge_tests::podman::{HELLO, Podman};
use edge_tests::wait::until_or;

fn short(id: &str) -> String {
    id.chars().filter(char::is_ascii_hexdigit).take(8).collect()
}

/// The edge node for edge-1 behind `lo`, with the test's containers.conf.
fn node(f: &Fleet, data: &Path, lo: &Lo, podman: &Podman) -> En {
    En::start_with_env(
        &f.d1,
        data,
        &lo.url,
        &[],
        &[("CONTAINERS_CONF", &podman.conf)],
    )
}

#[test]
fn a_compose_app_runs_under_podman_compose_and_comes_back_after_a_crash() {
    let podman = Podman::setup();
    let f = fleet();
    f.co.add_app("fixtures/packages/hello-compose");
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let data = f.dir.path().join("en");
    let en = node(&f, &data, &lo, &podman);
    let id = deploy_to(
        &f.co,
        "hello-compose",
        "edge-1",
        &["--set", "greeting=from plant one"],
    );
    // kill -9 while podman-compose brings it up: after the restart it is
    // installed once, not twice.
    until_or(
        "the compose app installing",
        || row(&en, &id).filter(|r| r["state"] == "installing"),
        || en.log(),
    );
    en.kill();
    let en = node(&f, &data, &lo, &podman);
    let log = || en.log();
    let (project, name) = after_the_restart_one_container_greets(&f, &podman, &id, log);
    a_killed_container_is_brought_up_again(&f, &podman, &en, &id, &name, log);
    ok(&f.co.edgectl(&["co", "undeploy", &id]));
    until_or("removed", || row(&en, &id).is_none().then_some(()), log);
    assert!(podman.names(&project).is_empty(), "nothing left running");
    drop(en);
    podman.clean(&data);
}

/// Installed at the CO, with one container of the app's compose project,
/// greeting as set. Returns the project's label filter and the container.
fn after_the_restart_one_container_greets(
    f: &Fleet,
    podman: &Podman,
    id: &str,
    log: impl Fn() -> String + Copy,
) -> (String, String) {
    wait_state(&f.co, id, "installed", log);
    let project = format!("com.docker.compose.project=edged-{}-hello", short(id));
    let names = podman.names(&project);
    assert_eq!(names.len(), 1, "one container after the restart: {names:?}");
    until_or(
        "the greeting in the container's output",
        || {
            podman
                .run(&["logs", &names[0]])
                .contains("hello from edgectl compose: from plant one")
                .then_some(())
        },
        log,
    );
    (project, names[0].clone())
}

/// A crash: the container is killed; the node brings it up again.
fn a_killed_container_is_brought_up_again(
    f: &Fleet,
    podman: &Podman,
    en: &En,
    id: &str,
    name: &str,
    log: impl Fn() -> String + Copy,
) {
    let _ = podman.run(&["kill", name]);
    until_or(
        "the compose app back after a crash",
        || row(en, id).filter(|r| r["restarts"].as_u64() >= Some(1) && r["state"] == "installed"),
        log,
    );
    wait_state(&f.co, id, "installed", log);
}

#[test]
fn a_container_app_is_pulled_from_a_registry_and_survives_kill_9_of_its_node() {
    let podman = Podman::setup();
    let registry = edge_tests::registry::start().unwrap();
    podman.push(HELLO, &registry.addr, "tools/hello:1.0.0");
    let f = fleet();
    let pkg = container_package(f.dir.path(), &format!("{}/tools/hello", registry.addr));
    ok(&f
        .co
        .edgectl(&["co", "add", "app", "--artifact", pkg.to_str().unwrap()]));
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let data = f.dir.path().join("en");
    let conf = [("CONTAINERS_CONF", podman.conf.as_path())];
    let insecure = ["--insecure-registries", registry.addr.as_str()];
    let en = En::start_with_env(&f.d1, &data, &lo.url, &insecure, &conf);
    let id = deploy_to(
        &f.co,
        "hello-container",
        "edge-1",
        &["--set", "greeting=plant one"],
    );
    wait_state(&f.co, &id, "installed", || en.log());
    let label = format!("edged.workload=edged-{}-hello", short(&id));
    assert_eq!(podman.names(&label).len(), 1);
    until_or(
        "the greeting in the workload's log",
        || {
            ok(&en.edgectl(&["logs", "hello-container"]))
                .contains("hello from edgectl container: plant one")
                .then_some(())
        },
        || en.log(),
    );

    // kill -9 of the node: the container runs on; after the restart the
    // node takes it over, and there is still exactly one.
    en.kill();
    assert_eq!(podman.names(&label).len(), 1);
    let en = En::start_with_env(&f.d1, &data, &lo.url, &insecure, &conf);
    until_or(
        "the container app installed after the restart",
        || row(&en, &id).filter(|r| r["state"] == "installed"),
        || en.log(),
    );
    assert_eq!(podman.names(&label).len(), 1, "no duplicate container");

    ok(&f.co.edgectl(&["co", "undeploy", &id]));
    until_or(
        "removed",
        || row(&en, &id).is_none().then_some(()),
        || en.log(),
    );
    assert!(podman.names(&label).is_empty(), "nothing left");
    drop(en);
    podman.clean(&data);
}

/// Margo compose `wait`: a container that exits non-zero while the app
/// starts makes the deployment `failed` at once (not retried into
/// `installed`), with the exit named.
#[test]
fn a_compose_container_exiting_at_start_fails_the_deployment() {
    let podman = Podman::setup();
    let f = fleet();
    let pkg = f.dir.path().join("exit-compose");
    edge_tests::co::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/packages/hello-compose"),
        &pkg,
    );
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("id: hello-compose\n", "id: exit-compose\n");
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    let compose = pkg.join("components/hello/compose.yaml");
    let text = std::fs::read_to_string(&compose).unwrap();
    let start = text.find("    command:").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    let text = format!(
        "{}    command: [\"sh\", \"-c\", \"exit 3\"]{}",
        &text[..start],
        &text[end..]
    );
    std::fs::write(&compose, text).unwrap();
    f.co.add_app(pkg.to_str().unwrap());
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let data = f.dir.path().join("en");
    let en = node(&f, &data, &lo, &podman);
    let id = deploy_to(&f.co, "exit-compose", "edge-1", &[]);
    wait_state(&f.co, &id, "failed", || en.log());
    let r = row(&en, &id).unwrap();
    let error = r["lastError"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("exited with status 3 while starting"), "{r}");
    ok(&f.co.edgectl(&["co", "undeploy", &id]));
    until_or(
        "removed",
        || row(&en, &id).is_none().then_some(()),
        || en.log(),
    );
    drop(en);
    podman.clean(&data);
}
