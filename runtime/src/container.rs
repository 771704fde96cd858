//! The `container` driver (an edgectl extension): one OCI image, named by
//! the component's `repository` (`oci://registry/name`) and `revision`
//! (the tag), run by podman as `edged-<deployment>-<component>`, pulled by
//! podman itself (without TLS only from the node's insecure registries).
//! Parameters become its environment; its output goes to the workload's log.
//! After a daemon restart the same container is started again, never a
//! second one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use edge_model::ProfileType;

use crate::driver::{Driver, Running, Workload, env_of};
use crate::failure::{ComponentError, FailureCode};
use crate::podman::{Lifecycle, Podman, PodmanError, on_path, supervise, workload_name};

/// Runs single images with podman.
#[derive(Debug, Clone, Default)]
pub struct ContainerDriver {
    /// The podman command line.
    pub podman: Podman,
}

struct Image {
    podman: Podman,
    name: String,
    label: String,
    image: String,
    insecure: bool,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Lifecycle for Image {
    fn up(&self) -> Result<(), PodmanError> {
        let exists = self
            .podman
            .cmd("podman")
            .args(["container", "exists", &self.name])
            .status()
            .is_ok_and(|s| s.success());
        let mut c = self.podman.cmd("podman");
        if exists {
            c.args(["start", &self.name]);
        } else {
            c.args(["run", "-d", "--name", &self.name, "--label", &self.label])
                .args(["--log-driver", "k8s-file", "--log-opt"])
                .arg(format!("path={}", self.log.display()));
            if self.insecure {
                c.arg("--tls-verify=false");
            }
            for (k, v) in &self.env {
                c.arg("--env").arg(format!("{k}={v}"));
            }
            c.arg(&self.image);
        }
        self.podman.run(c, &self.log.with_extension("podman.log"))
    }

    fn down(&self, grace: Duration) {
        let _ = self
            .podman
            .cmd("podman")
            .args(["stop", "-t", &grace.as_secs().to_string(), &self.name])
            .output();
        self.podman.remove_all(&self.label);
    }

    fn label(&self) -> &str {
        &self.label
    }
}

/// The label on a workload's container.
fn container_label(name: &str) -> String {
    format!("edged.workload={name}")
}

impl Driver for ContainerDriver {
    fn kind(&self) -> ProfileType {
        ProfileType::Container
    }

    fn unavailable(&self) -> Option<String> {
        (!on_path("podman")).then(|| "no podman on this host".to_owned())
    }

    fn start(&self, w: &Workload) -> Result<Box<dyn Running>, ComponentError> {
        let fail = ComponentError::new;
        let repository = w.component.repository.as_deref().unwrap_or_default();
        let image = edge_model::profile::oci_reference(repository, w.component.revision.as_deref())
            .ok_or_else(|| {
                fail(
                    FailureCode::Artifact,
                    format!("`{repository}` is not an image reference; use oci://REGISTRY/NAME"),
                )
            })?;
        w.make_dir()?;
        let name = workload_name(&w.deployment, &w.component.name);
        let label = container_label(&name);
        let host = image.split('/').next().unwrap_or_default();
        let insecure = self.podman.insecure.iter().any(|r| r == host);
        let spec = Image {
            podman: self.podman.clone(),
            name: name.clone(),
            label,
            image,
            insecure,
            env: env_of(w),
            log: w.dir.join("output.log"),
        };
        let s = supervise(Arc::new(spec), self.podman.clone(), w.restart, &name)
            .map_err(|e| fail(FailureCode::Start, format!("cannot supervise it: {e}")))?;
        Ok(Box::new(s))
    }

    fn clean(&self, deployment: &str, component: &str) {
        // Named from the workload, never read back from its folder.
        self.podman
            .remove_all(&container_label(&workload_name(deployment, component)));
    }
}
