//! Attacks from a workload on the node daemon: symlinked control files, forged
//! pid files, running as root by default, leaking the daemon's environment.
//!
//! The hostile workload is a native process app whose script plants, in
//! every folder it can write (its own, and the one above it where the
//! daemon's control files were), links named like the daemon's files
//! pointing at a root-owned victim, and a pid file naming a root process
//! that is none of its business. The daemon is then killed and restarted
//! (it starts the workload again) and the app undeployed: the victim must
//! be untouched, the bystander alive, and the daemon must still have done
//! its job and said so. (A pid file naming 1 is not replayed here: against
//! a daemon that trusted it, `kill(-1)` would end every process of the
//! host; `ledger`'s unit tests show no signal goes to a pid of 1 or less.)

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use edge_tests::co::{copy_tree, ok};
use edge_tests::en::En;
use edge_tests::fleet::{Fleet, deploy_to, fixture, fleet, row, wait_state};
use edge_tests::lo::Lo;
use edge_tests::podman::Podman;
use edge_tests::wait::until_or;

/// A process app `id` at `dir/id` whose one component runs `script`.
fn process_app(dir: &Path, id: &str, script: &str) -> PathBuf {
    let pkg = dir.join(id);
    copy_tree(&fixture("hello-process"), &pkg);
    std::fs::write(pkg.join("components/hello.sh"), script).unwrap();
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("id: hello-process\n", &format!("id: {id}\n"))
        .replace("id: hello-process-process", &format!("id: {id}-process"));
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    pkg
}

/// A root process in a group of its own, which no workload may end.
struct Bystander(Child);

impl Bystander {
    fn start() -> Self {
        let mut c = Command::new("sleep");
        c.arg("3600");
        std::os::unix::process::CommandExt::process_group(&mut c, 0);
        Self(c.spawn().unwrap())
    }

    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the hostile script does, with the victim and bystander filled in.
fn hostile(victim: &Path, bystander: u32) -> String {
    format!(
        r#"#!/bin/sh
# In every folder it can write, the daemon's file names become links to a
# root-owned victim, and a pid file names a root process.
for d in . ..; do
  for f in output.log program containers; do
    rm -rf "$d/$f" 2>/dev/null
    ln -s {victim} "$d/$f" 2>/dev/null
  done
  rm -f "$d/pid" 2>/dev/null
  printf '%s\nsleep\n' {bystander} > "$d/pid" 2>/dev/null
done
touch planted
sleep 3600
"#,
        victim = victim.display()
    )
}

/// The workload of `id` planted its links (its folder holds `planted`,
/// in whichever layout).
fn planted(data: &Path, id: &str) -> bool {
    let dir = data.join("workloads").join(id).join("hello");
    dir.join("planted").exists() || dir.join("work").join("planted").exists()
}

fn hostile_fleet(victim: &Path, bystander: u32) -> Fleet {
    let f = fleet();
    let pkg = process_app(f.dir.path(), "hostile", &hostile(victim, bystander));
    f.co.add_app(pkg.to_str().unwrap());
    f
}

#[test]
fn a_workload_s_links_and_forged_pid_file_do_not_steer_the_root_daemon() {
    let mut bystander = Bystander::start();
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let f = hostile_fleet(&victim, bystander.0.id());
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let data = f.dir.path().join("en");
    let args = ["--run-as", "nobody"];
    let en = En::start(&f.d1, &data, &lo.url, &args);
    let id = deploy_to(&f.co, "hostile", "edge-1", &[]);
    wait_state(&f.co, &id, "installed", || en.log());
    until_or(
        "the workload's links planted",
        || planted(&data, &id).then_some(()),
        || en.log(),
    );
    // The daemon dies and comes back: it ends the workload it left and
    // starts it again, through whatever the workload planted.
    en.kill();
    let en = En::start(&f.d1, &data, &lo.url, &args);
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    let settled = until_or(
        "the workload installed (or failed) after the restart",
        || {
            row(&en, &id).filter(|r| {
                r["state"] == "failed" || (r["state"] == "installed" && r["pid"].is_u64())
            })
        },
        log,
    );
    untouched(&victim, &mut bystander, log);
    assert_eq!(settled["state"], "installed", "{settled}\n{}", log());
    let running = Command::new("pgrep")
        .args(["-c", "-f"])
        .arg(data.join("workloads").join(&id))
        .output()
        .unwrap();
    let running = String::from_utf8_lossy(&running.stdout).trim().to_owned();
    ok(&f.co.edgectl(&["co", "undeploy", &id]));
    until_or(
        "the workload removed",
        || row(&en, &id).is_none().then_some(()),
        log,
    );
    untouched(&victim, &mut bystander, log);
    assert_eq!(running, "1", "the leftover was ended: one process, not two");
    assert!(!data.join("workloads").join(&id).exists());
}

/// The victim holds what it held, with its mode; the bystander lives.
fn untouched(victim: &Path, bystander: &mut Bystander, log: impl Fn() -> String) {
    let text = std::fs::read_to_string(victim).unwrap();
    let mode = std::fs::metadata(victim).unwrap().mode() & 0o7777;
    assert_eq!(
        (text.as_str(), mode),
        ("precious\n", 0o600),
        "root wrote or chmodded through the workload's links\n{}",
        log()
    );
    assert!(
        bystander.alive(),
        "the forged pid file made root kill a bystander"
    );
}

/// The `id -u` a process app's component prints, read from its log.
fn uid_of(en: &En, id: &str, log: impl Fn() -> String) -> u32 {
    until_or(
        "the workload's uid in its log",
        || {
            let out = en.edgectl(&["logs", id]);
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("uid=")?.parse().ok())
        },
        log,
    )
}

const WHOAMI: &str = "#!/bin/sh\necho \"uid=$(id -u)\"\ntouch mine\nexec sleep 3600\n";

#[test]
fn as_root_process_workloads_get_accounts_of_their_own_unless_root_is_named() {
    let f = fleet();
    for app in ["whoami", "whoami-too"] {
        let pkg = process_app(f.dir.path(), app, WHOAMI);
        f.co.add_app(pkg.to_str().unwrap());
    }
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let data = f.dir.path().join("en");
    let en = En::start(&f.d1, &data, &lo.url, &[]);
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    let (a, b) = (
        deploy_to(&f.co, "whoami", "edge-1", &[]),
        deploy_to(&f.co, "whoami-too", "edge-1", &[]),
    );
    let (ua, ub) = (uid_of(&en, &a, log), uid_of(&en, &b, log));
    assert!(ua != 0 && ub != 0, "run as root by default: {ua} {ub}");
    assert_ne!(
        ua, ub,
        "two workloads share an account and can signal each other"
    );
    the_data_folder_and_its_state_are_private(&data, &a, ua);
    ok(&f.co.edgectl(&["co", "undeploy", &a]));
    ok(&f.co.edgectl(&["co", "undeploy", &b]));
    until_or(
        "both removed",
        || (row(&en, &a).is_none() && row(&en, &b).is_none()).then_some(()),
        log,
    );
    drop(en);
    let en = En::start(&f.d1, &data, &lo.url, &["--run-as", "root"]);
    let c = deploy_to(&f.co, "whoami", "edge-1", &[]);
    assert_eq!(uid_of(&en, &c, || en.log()), 0, "root when named");
}

/// The data folder lists to no one, `en.db` is the daemon's alone, and the
/// workload can write its own folder only, not the daemon's files.
fn the_data_folder_and_its_state_are_private(data: &Path, id: &str, uid: u32) {
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(data) & 0o066, 0, "data folder {:o}", mode(data));
    assert_eq!(mode(&data.join("en.db")), 0o600);
    assert_eq!(mode(&data.join("artifacts")), 0o700);
    let control = data.join("workloads").join(id).join("hello");
    let meta = std::fs::metadata(&control).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o022), (0, 0), "control folder");
    assert_eq!(mode(&control.join("output.log")), 0o600);
    let work = std::fs::metadata(control.join("work")).unwrap();
    assert_eq!((work.uid(), work.mode() & 0o777), (uid, 0o700));
    until_or(
        "the workload's own file",
        || {
            std::fs::metadata(control.join("work").join("mine"))
                .ok()
                .map(|m| m.uid())
        },
        String::new,
    );
}

#[test]
fn the_compose_driver_does_not_hand_the_daemon_s_environment_to_containers() {
    let podman = Podman::setup();
    let f = fleet();
    let pkg = f.dir.path().join("leaky-compose");
    copy_tree(&fixture("hello-compose"), &pkg);
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("id: hello-compose\n", "id: leaky-compose\n");
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    let compose = pkg.join("components/hello/compose.yaml");
    let text = std::fs::read_to_string(&compose)
        .unwrap()
        .replace("${GREETING:-hello}", "${EDGE_TEST_SECRET:-none}");
    std::fs::write(&compose, text).unwrap();
    f.co.add_app(pkg.to_str().unwrap());
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let data = f.dir.path().join("en");
    let secret = Path::new("hunter2-of-the-daemon");
    let en = En::start_with_env(
        &f.d1,
        &data,
        &lo.url,
        &[],
        &[
            ("CONTAINERS_CONF", &podman.conf),
            ("EDGE_TEST_SECRET", secret),
        ],
    );
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    let id = deploy_to(&f.co, "leaky-compose", "edge-1", &[]);
    wait_state(&f.co, &id, "installed", log);
    let short: String = id.chars().filter(char::is_ascii_hexdigit).take(8).collect();
    let names = podman.names(&format!("com.docker.compose.project=edged-{short}-hello"));
    assert_eq!(names.len(), 1, "{names:?}");
    let said = until_or(
        "the container's greeting",
        || {
            let out = podman.run(&["logs", &names[0]]);
            out.contains("hello from edgectl compose").then_some(out)
        },
        log,
    );
    assert!(
        !said.contains("hunter2"),
        "the daemon's secret reached the container: {said}"
    );
    assert!(said.contains("compose: none"), "{said}");
    ok(&f.co.edgectl(&["co", "undeploy", &id]));
    until_or("removed", || row(&en, &id).is_none().then_some(()), log);
    drop(en);
    podman.clean(&data);
}
