//! The `compose` driver: a Margo compose archive, already checked and
//! unpacked by the node (its one top directory, holding `compose.yaml`, is
//! the workload's artifact), run with `podman-compose` as project
//! `edged-<deployment>-<component>`. Parameters are the project's
//! environment, both for `${VAR}` substitution and in its `.env` file, so a
//! later `up` sees the same values. `wait` means every container running.
//!
//! The node's own variables (the OpenTelemetry collector's, see
//! [`Workload::env`]) reach every service whatever its compose file says:
//! the node writes an override file, [`OVERRIDE`] in the control folder,
//! giving each service named in `compose.yaml` an `environment:` entry for
//! each (the device owner decides them, so they replace a service's own),
//! and every `podman-compose` call (`up`, `down`, a restart, the adoption
//! after a daemon restart) names both files.

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
    /// The node's override file, when it has variables to give.
    overlay: Option<PathBuf>,
    log: PathBuf,
}

impl Project {
    fn compose(&self) -> std::process::Command {
        let mut c = self.podman.cmd("podman-compose");
        c.current_dir(&self.top)
            .args(["-p", &self.name, "-f", "compose.yaml"])
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(o) = &self.overlay {
            c.arg("-f").arg(o);
        }
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

/// The node's override file in a compose workload's control folder.
pub const OVERRIDE: &str = "node.compose.json";
/// The largest `compose.yaml` read for its service names.
const MAX_COMPOSE: u64 = 1024 * 1024;
/// The most services a compose file may name.
const MAX_SERVICES: usize = 256;

/// The service names of the compose file at `path`, checked: at most
/// [`MAX_COMPOSE`] bytes, a `services` mapping of at most [`MAX_SERVICES`]
/// names made of letters, digits, `.`, `_` and `-`.
fn services(path: &Path) -> Result<Vec<String>, String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_COMPOSE + 1).read_to_string(&mut text))
        .map_err(|e| format!("cannot read compose.yaml: {e}"))?;
    if text.len() as u64 > MAX_COMPOSE {
        return Err(format!("compose.yaml is larger than {MAX_COMPOSE} bytes"));
    }
    let doc: yaml_serde::Value =
        yaml_serde::from_str(&text).map_err(|e| format!("compose.yaml is not YAML: {e}"))?;
    let Some(map) = doc.get("services").and_then(yaml_serde::Value::as_mapping) else {
        return Err("compose.yaml has no `services` mapping".to_owned());
    };
    if map.len() > MAX_SERVICES {
        return Err(format!(
            "compose.yaml names {} services, more than {MAX_SERVICES}",
            map.len()
        ));
    }
    map.keys()
        .map(|k| {
            let name = k.as_str().unwrap_or_default();
            let ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if ok {
                Ok(name.to_owned())
            } else {
                Err(format!(
                    "compose.yaml names a service `{}`; a name is letters, digits, `.`, `_` and `-`",
                    yaml_serde::to_string(k).unwrap_or_default().trim()
                ))
            }
        })
        .collect()
}

/// The override giving every one of `services` the variables `vars`
/// (JSON, which is YAML; a `$` doubled so compose substitutes nothing).
fn overlay(services: &[String], vars: &[(String, String)]) -> Vec<u8> {
    let environment: serde_json::Map<String, serde_json::Value> = vars
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.replace('$', "$$"))))
        .collect();
    let services: serde_json::Map<String, serde_json::Value> = services
        .iter()
        .map(|s| {
            (
                s.clone(),
                serde_json::json!({ "environment": environment.clone() }),
            )
        })
        .collect();
    let doc = serde_json::json!({ "services": services });
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
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
        let control = w.make_dir()?;
        let overlay = if w.env.is_empty() {
            control.remove(OVERRIDE).map_err(|e| {
                fail(
                    FailureCode::Start,
                    format!("cannot remove the node's {OVERRIDE}: {e}"),
                )
            })?;
            None
        } else {
            let names = services(&w.artifact.join("compose.yaml"))
                .map_err(|e| fail(FailureCode::Artifact, e))?;
            let path = control
                .write(OVERRIDE, &overlay(&names, &w.env))
                .map_err(|e| {
                    fail(
                        FailureCode::Start,
                        format!("cannot write the node's {OVERRIDE}: {e}"),
                    )
                })?;
            Some(path)
        };
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
            overlay,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn compose(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compose.yaml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn every_service_gets_the_node_s_variables_with_dollars_kept() {
        let (_d, path) = compose(
            "services:\n  web:\n    image: a\n    environment:\n      - HTTP_OTEL_EXPORTER_OTLP_ENDPOINT=mine\n  db:\n    image: b\n",
        );
        let names = services(&path).unwrap();
        assert_eq!(names, ["web", "db"]);
        let vars = [(
            "HTTP_OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            "http://h:1/w/$x".to_owned(),
        )];
        let doc: serde_json::Value = serde_json::from_slice(&overlay(&names, &vars)).unwrap();
        for s in ["web", "db"] {
            assert_eq!(
                doc["services"][s]["environment"]["HTTP_OTEL_EXPORTER_OTLP_ENDPOINT"],
                "http://h:1/w/$$x"
            );
        }
    }

    #[test]
    fn a_compose_file_without_services_or_with_odd_names_is_refused() {
        let (_d, path) = compose("version: '3'\n");
        assert!(
            services(&path)
                .unwrap_err()
                .contains("no `services` mapping")
        );
        let (_d, path) = compose("services:\n  'a b':\n    image: x\n");
        assert!(services(&path).unwrap_err().contains("`a b`"));
        let (_d, path) = compose("services: [1, 2]\n");
        assert!(services(&path).is_err());
        let big = format!("services:\n  a: {{}}\n#{}\n", "x".repeat(2 * 1024 * 1024));
        let (_d, path) = compose(&big);
        assert!(services(&path).unwrap_err().contains("larger than"));
    }
}
