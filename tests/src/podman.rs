//! podman for the container tests, configured as this kind of host needs
//! (`runc`, explicit ulimits: see ECOSYSTEM §4) through a `containers.conf`
//! of the test's own, and the one image they use, built from Debian's
//! static busybox (there is no registry to pull from): tagged
//! `docker.io/library/busybox:1.36` for the compose fixture, and
//! `localhost/edged-test/hello:1.0.0` with a greeting loop as its command.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The image the compose fixture names.
pub const BUSYBOX: &str = "docker.io/library/busybox:1.36";
/// An image whose command greets with `$GREETING`, then keeps running.
pub const HELLO: &str = "localhost/edged-test/hello:1.0.0";

/// podman settings for one test.
pub struct Podman {
    /// The `containers.conf` to pass as `CONTAINERS_CONF`.
    pub conf: PathBuf,
    _dir: tempfile::TempDir,
}

impl Podman {
    /// Write the configuration and make sure both images exist locally.
    ///
    /// # Panics
    /// When podman or busybox is missing (the test command installs them).
    #[must_use]
    pub fn setup() -> Podman {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let conf = dir.path().join("containers.conf");
        std::fs::write(
            &conf,
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let p = Podman { conf, _dir: dir };
        for (image, cmd) in [
            (BUSYBOX, None),
            (
                HELLO,
                Some(
                    r#"CMD ["sh", "-c", "echo hello from edgectl container: $GREETING; while true; do sleep 5; done"]"#,
                ),
            ),
        ] {
            if !p
                .cmd()
                .args(["image", "exists", image])
                .status()
                .is_ok_and(|s| s.success())
            {
                p.import(image, cmd);
            }
        }
        p
    }

    /// `podman` with this configuration.
    #[must_use]
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf);
        c
    }

    /// `podman pull REFERENCE` from an LO's registry presenting the device
    /// identity in `cert_dir` (a folder `registry::cert_dir` made); the LO's
    /// server name is not checked (`--tls-verify=false`: its certificate
    /// names no host here), its client certificate still presented.
    ///
    /// # Panics
    /// When podman cannot run.
    #[must_use]
    pub fn pull_from_lo(
        &self,
        cert_dir: &std::path::Path,
        reference: &str,
    ) -> std::process::Output {
        self.cmd()
            .args(["pull", "--tls-verify=false"])
            .arg(format!("--cert-dir={}", cert_dir.display()))
            .arg(reference)
            .output()
            .unwrap_or_else(|e| panic!("cannot run podman: {e}"))
    }

    /// Run `podman ARGS`, returning stdout; panics on failure.
    #[must_use]
    pub fn run(&self, args: &[&str]) -> String {
        let out =
            self.cmd().args(args).output().unwrap_or_else(|e| {
                panic!("cannot run podman (the test command installs it): {e}")
            });
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn import(&self, image: &str, cmd: Option<&str>) {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let bin = root.path().join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy("/bin/busybox", bin.join("busybox"))
            .unwrap_or_else(|e| panic!("/bin/busybox (Debian's busybox-static): {e}"));
        for tool in ["sh", "echo", "sleep", "cat"] {
            std::os::unix::fs::symlink("busybox", bin.join(tool)).unwrap_or_else(|e| panic!("{e}"));
        }
        let tar = root.path().join("rootfs.tar");
        let ok = Command::new("tar")
            .arg("-C")
            .arg(root.path().join("rootfs"))
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cannot pack the busybox root");
        let mut args = vec!["import".to_owned()];
        if let Some(c) = cmd {
            args.extend(["--change".to_owned(), c.to_owned()]);
        }
        args.extend([tar.display().to_string(), image.to_owned()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = self.run(&refs);
    }

    /// Push `image` to the registry at `addr` (plain HTTP) as `name`.
    pub fn push(&self, image: &str, addr: &str, name: &str) {
        let _ = self.run(&[
            "push",
            "--tls-verify=false",
            image,
            &format!("{addr}/{name}"),
        ]);
    }

    /// [`Podman::push`] to a registry that wants `creds` (`user:password`).
    pub fn push_as(&self, image: &str, addr: &str, name: &str, creds: &str) {
        let _ = self.run(&[
            "push",
            "--tls-verify=false",
            "--creds",
            creds,
            image,
            &format!("{addr}/{name}"),
        ]);
    }

    /// Names of the containers carrying `label`.
    #[must_use]
    pub fn names(&self, label: &str) -> Vec<String> {
        self.run(&[
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            &format!("label={label}"),
        ])
        .lines()
        .map(str::to_owned)
        .collect()
    }

    /// Remove every container an edge node with data directory `data` left.
    pub fn clean(&self, data: &Path) {
        let Ok(deployments) = std::fs::read_dir(data.join("workloads")) else {
            return;
        };
        for d in deployments.flatten() {
            for c in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
                let name = edge_runtime::podman::workload_name(
                    &d.file_name().to_string_lossy(),
                    &c.file_name().to_string_lossy(),
                );
                for label in [
                    format!("com.docker.compose.project={name}"),
                    format!("edged.workload={name}"),
                ] {
                    for n in self.names(&label) {
                        let _ = self.cmd().args(["rm", "-f", &n]).output();
                    }
                }
            }
        }
    }
}
