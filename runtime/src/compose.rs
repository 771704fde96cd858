//! The `compose` driver: a Margo compose archive, already checked and
//! unpacked by the node (its one top directory, holding `compose.yaml`, is
//! the workload's artifact), run with `podman-compose` as project
//! `edged-<deployment>-<component>`. Parameters are the project's
//! environment, both for `${VAR}` substitution and in its `.env` file, so a
//! later `up` sees the same values. `wait` means every container running.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use edge_model::ProfileType;

use crate::driver::{Driver, Running, Workload, env_of};
use crate::failure::{ComponentError, FailureCode};
use crate::podman::{Lifecycle, Podman, PodmanError, on_path, supervise, workload_name};

/// Runs compose projects with podman-compose.
#[derive(Debug, Clone, Default)]
pub struct ComposeDriver {
    /// The podman command line.
    pub podman: Podman,
}

struct Project {
    podman: Podman,
    name: String,
    label: String,
    top: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Project {
    fn compose(&self) -> std::process::Command {
        let mut c = self.podman.cmd("podman-compose");
        c.current_dir(&self.top)
            .args(["-p", &self.name, "-f", "compose.yaml"])
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }
}

impl Lifecycle for Project {
    fn up(&self) -> Result<(), PodmanError> {
        let mut c = self.compose();
        c.args(["up", "-d"]);
        self.podman.run(c, &self.log)
    }

    fn down(&self, grace: Duration) {
        let mut c = self.compose();
        c.args(["down", "-t", &grace.as_secs().to_string()]);
        let _ = self.podman.run(c, &self.log);
        self.podman.remove_all(&self.label);
    }

    fn label(&self) -> &str {
        &self.label
    }
}

/// The label podman-compose puts on a project's containers.
fn project_label(name: &str) -> String {
    format!("com.docker.compose.project={name}")
}

/// Write `bytes` to a new file at `path`, removing what is there first
/// (a link is removed, never followed).
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

impl Driver for ComposeDriver {
    fn kind(&self) -> ProfileType {
        ProfileType::Compose
    }

    fn unavailable(&self) -> Option<String> {
        (!on_path("podman-compose") || !on_path("podman"))
            .then(|| "no podman-compose (with podman) on this host".to_owned())
    }

    fn start(&self, w: &Workload) -> Result<Box<dyn Running>, ComponentError> {
        let fail = ComponentError::new;
        if !w.artifact.join("compose.yaml").is_file() {
            return Err(fail(
                FailureCode::Artifact,
                format!("`{}` holds no compose.yaml", w.artifact.display()),
            ));
        }
        w.make_dir()?;
        let env = env_of(w);
        let mut dotenv = String::new();
        for (k, v) in &env {
            if v.contains('\n') {
                return Err(fail(
                    FailureCode::Parameter,
                    format!("`{k}` holds a line break, which a compose environment cannot carry"),
                ));
            }
            dotenv.push_str(&format!("{k}={v}\n"));
        }
        write_new(&w.artifact.join(".env"), dotenv.as_bytes()).map_err(|e| {
            fail(
                FailureCode::Start,
                format!("cannot write the project's .env: {e}"),
            )
        })?;
        let name = workload_name(&w.deployment, &w.component.name);
        let label = project_label(&name);
        let project = Project {
            podman: self.podman.clone(),
            name: name.clone(),
            label,
            top: w.artifact.clone(),
            env,
            log: w.dir.join("output.log"),
        };
        let s = supervise(Arc::new(project), self.podman.clone(), w.restart, &name)
            .map_err(|e| fail(FailureCode::Start, format!("cannot supervise it: {e}")))?;
        Ok(Box::new(s))
    }

    fn clean(&self, deployment: &str, component: &str) {
        // Named from the workload, never read back from its folder.
        self.podman
            .remove_all(&project_label(&workload_name(deployment, component)));
    }
}
