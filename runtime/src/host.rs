//! What this host offers, for the device capabilities report (DIGEST §7.3):
//! CPU cores and architecture, memory, storage of the data folder, network
//! interfaces, and the deployment types and runtimes that are actually usable
//! here (a tool counts only when it is on `PATH`), in rc.3's vocabulary: our
//! own types as `custom` plus `x-edgectl-extensions.deploymentTypes` (the
//! model's `set_deployment_types`). Parsing is pure and unit tested;
//! [`detect`] reads `/proc`, `/sys` and `PATH`.

use std::collections::BTreeMap;
use std::path::Path;

use edge_model::capabilities::DeviceCapabilitiesManifest;
use edge_model::{MargoDocument as _, ProfileType};
use serde_json::{Value, json};

/// Facts about the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Logical CPUs.
    pub cores: u32,
    /// Margo architecture name (`amd64`, `arm64`, `arm`), or Rust's name.
    pub architecture: String,
    /// Total memory, bytes.
    pub memory: u64,
    /// Size of the file system holding the data folder, bytes.
    pub storage: u64,
    /// Margo interface types of the network interfaces (`ethernet`, `wifi`, `other`).
    pub interfaces: Vec<String>,
    /// Tools found on `PATH` (`podman`, `podman-compose`, `docker`, `helm`).
    pub tools: Vec<String>,
    /// Whether the node's OpenTelemetry collector runs (reported as
    /// `otelCollector`); [`detect`] leaves it `false`, the node sets it.
    pub otel_collector: bool,
}

/// Margo's name for a Rust target architecture.
#[must_use]
pub fn margo_architecture(rust: &str) -> &str {
    match rust {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" | "armv7" => "arm",
        other => other,
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
#[must_use]
pub fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut parts = line.split_whitespace().skip(1);
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => n.checked_mul(1024),
        _ => None,
    }
}

/// Bytes in the largest binary unit that keeps a whole number of them,
/// rounded down (`8Gi`, `512Mi`); units from `Ki` up to `largest`.
#[must_use]
pub fn binary_size(bytes: u64, largest: &str) -> String {
    let units = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let last = units.iter().position(|u| *u == largest).unwrap_or(2);
    let mut value = bytes / 1024;
    let mut unit = 0;
    while unit < last && value >= 1024 * 4 {
        value /= 1024;
        unit += 1;
    }
    format!("{value}{}", units[unit])
}

/// The Margo interface type of a network interface from what
/// `/sys/class/net/<name>` shows; `None` for loopback, for the virtual
/// interfaces container engines and the kernel make (veth pairs, bridges,
/// ifb, tunnels), and for kinds Margo has no name for.
#[must_use]
pub fn interface_kind(
    name: &str,
    is_wireless: bool,
    arp_type: Option<u32>,
) -> Option<&'static str> {
    const VIRTUAL: [&str; 10] = [
        "lo", "veth", "docker", "podman", "cni", "br-", "virbr", "ifb", "tun", "tap",
    ];
    if VIRTUAL.iter().any(|p| name.starts_with(p)) {
        return None;
    }
    match (is_wireless, arp_type) {
        (true, _) => Some("wifi"),
        (false, Some(1)) => Some("ethernet"),
        _ => None,
    }
}

/// Whether an executable `tool` is on `PATH`.
#[must_use]
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            let f = d.join(tool);
            std::fs::metadata(&f).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt as _;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    })
}

/// Look at this host; `data` is the folder whose file system counts as storage.
#[must_use]
pub fn detect(data: &Path) -> Host {
    let cores =
        std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1));
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| mem_total(&m))
        .unwrap_or(0);
    let storage = rustix::fs::statvfs(data).map_or(0, |s| s.f_blocks.saturating_mul(s.f_frsize));
    let mut interfaces: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let wireless = e.path().join("wireless").exists();
                    let arp = std::fs::read_to_string(e.path().join("type"))
                        .ok()
                        .and_then(|t| t.trim().parse().ok());
                    interface_kind(&name, wireless, arp).map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    interfaces.sort();
    interfaces.dedup();
    let tools = ["podman", "podman-compose", "docker", "helm"]
        .into_iter()
        .filter(|t| on_path(t))
        .map(str::to_owned)
        .collect();
    Host {
        cores,
        architecture: margo_architecture(std::env::consts::ARCH).to_owned(),
        memory,
        storage,
        interfaces,
        tools,
        otel_collector: false,
    }
}

impl Host {
    fn has(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| t == tool)
    }

    /// Deployment types this host can run with the drivers in `drivers`
    /// (profile type names the node was built with), given its tools.
    #[must_use]
    pub fn deployment_types(&self, drivers: &[&str]) -> Vec<String> {
        drivers
            .iter()
            .filter(|d| match **d {
                "compose" => self.has("podman-compose") && self.has("podman"),
                "container" => self.has("podman"),
                "helm" => self.has("helm"),
                _ => true,
            })
            .map(|d| (*d).to_owned())
            .collect()
    }

    /// The capabilities report of device `id` on this host.
    ///
    /// # Errors
    /// When the result does not pass the model's rules (a bug, or a device
    /// id that is not one), with every problem.
    pub fn capabilities(
        &self,
        id: &str,
        drivers: &[&str],
        labels: &BTreeMap<String, String>,
    ) -> Result<DeviceCapabilitiesManifest, CapabilitiesError> {
        let types: Vec<ProfileType> = self
            .deployment_types(drivers)
            .iter()
            .filter_map(|t| ProfileType::parse(t))
            .collect();
        let mut runtimes = vec!["custom"];
        if self.has("podman") || self.has("docker") {
            runtimes.insert(0, "oci");
        }
        let interfaces: Vec<Value> = self
            .interfaces
            .iter()
            .map(|k| json!({ "type": k }))
            .collect();
        let mut props = json!({
            "id": id,
            "vendor": "edged",
            "modelNumber": std::env::consts::ARCH,
            "serialNumber": id,
            "cpus": [{ "cores": self.cores, "architecture": self.architecture }],
            "memory": binary_size(self.memory, "Gi"),
            "storage": binary_size(self.storage, "Ti"),
            "interfaces": interfaces,
            "otelCollector": self.otel_collector,
            "supportedRuntimes": runtimes,
            // Written below, in rc.3 words.
            "supportedDeploymentTypes": ["custom"],
        });
        if self.memory == 0 {
            props.as_object_mut().map(|p| p.remove("memory"));
        }
        if self.storage == 0 {
            props.as_object_mut().map(|p| p.remove("storage"));
        }
        let doc = json!({ "properties": props, "labels": labels });
        let mut caps = DeviceCapabilitiesManifest::from_value(doc)
            .map(|c| c.document)
            .map_err(|r| CapabilitiesError {
                problems: r.errors.iter().map(ToString::to_string).collect(),
            })?;
        caps.set_deployment_types(&types);
        // A host with no usable type at all still says so in rc.3 words
        // (the list needs one entry): `custom`, with none of ours named.
        if caps.properties.supported_deployment_types.is_empty() {
            caps.properties.supported_deployment_types = vec!["custom".to_owned()];
        }
        Ok(caps)
    }
}

/// A capabilities report that does not pass the model's rules.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("; "))]
pub struct CapabilitiesError {
    /// Every problem, one sentence each.
    pub problems: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_hosts_own_report_passes_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let host = detect(dir.path());
        let doc = host.capabilities(
            "edge-1",
            &["wasm", "process", "compose", "container"],
            &BTreeMap::new(),
        );
        assert!(doc.is_ok(), "{doc:?} from {host:?}");
        // Only rc.3's words, whatever this host has.
        let p = doc.unwrap().properties;
        assert!(
            p.supported_deployment_types
                .iter()
                .all(|t| ["helm", "compose", "custom"].contains(&t.as_str())),
            "{p:?}"
        );
        assert!(
            p.supported_runtimes
                .iter()
                .all(|t| ["oci", "custom"].contains(&t.as_str())),
            "{p:?}"
        );
    }

    #[test]
    fn meminfo_and_sizes_read_as_margo_wants_them() {
        let meminfo = "MemTotal:       16318504 kB\nMemFree:          912344 kB\n";
        assert_eq!(mem_total(meminfo), Some(16_318_504 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: x kB\n"), None);
        assert_eq!(binary_size(16_318_504 * 1024, "Gi"), "15Gi");
        assert_eq!(binary_size(512 * 1024 * 1024, "Gi"), "512Mi");
        assert_eq!(binary_size(3 * 1024 * 1024 * 1024 * 1024, "Ti"), "3072Gi");
        assert_eq!(binary_size(8 * 1024u64.pow(4), "Ti"), "8Ti");
        assert_eq!(binary_size(1000, "Gi"), "0Ki");
    }

    #[test]
    fn interfaces_and_architectures_use_margo_names() {
        assert_eq!(interface_kind("lo", false, Some(772)), None);
        assert_eq!(interface_kind("eth0", false, Some(1)), Some("ethernet"));
        assert_eq!(interface_kind("wlan0", true, Some(1)), Some("wifi"));
        assert_eq!(interface_kind("veth12", false, Some(1)), None);
        assert_eq!(interface_kind("podman0", false, Some(1)), None);
        assert_eq!(interface_kind("tun0", false, Some(65534)), None);
        assert_eq!(
            interface_kind("sit0", false, Some(776)),
            None,
            "no Margo name"
        );
        assert_eq!(margo_architecture("x86_64"), "amd64");
        assert_eq!(margo_architecture("aarch64"), "arm64");
    }

    #[test]
    fn the_report_for_this_host_passes_the_model_and_names_only_usable_types() {
        let dir = tempfile::tempdir().unwrap();
        let mut host = detect(dir.path());
        assert!(
            host.cores >= 1 && host.memory > 0 && host.storage > 0,
            "{host:?}"
        );
        host.tools = vec!["podman".into()];
        let labels = [("line".to_owned(), "3".to_owned())].into();
        let caps = host
            .capabilities("edge-1", &["process", "compose", "helm"], &labels)
            .unwrap();
        let p = &caps.properties;
        assert_eq!(p.id.as_str(), "edge-1");
        assert_eq!(
            caps.deployment_types(),
            ["process"],
            "no compose tool, no helm"
        );
        assert_eq!(p.supported_deployment_types, ["custom"], "rc.3 words");
        assert_eq!(p.supported_runtimes, ["oci", "custom"]);
        // What is sent reads back through the model as it was made.
        let wire = serde_json::to_value(&caps).unwrap();
        assert_eq!(
            wire["x-edgectl-extensions"],
            json!({"deploymentTypes": ["process"]})
        );
        let back = DeviceCapabilitiesManifest::from_value(wire)
            .unwrap()
            .document;
        assert_eq!(back, caps);
        host.tools.push("podman-compose".into());
        let caps = host
            .capabilities("edge-1", &["process", "compose"], &labels)
            .unwrap();
        assert_eq!(caps.deployment_types(), ["process", "compose"]);
        assert_eq!(
            caps.properties.supported_deployment_types,
            ["custom", "compose"]
        );
        assert!(
            host.capabilities("not a device id!", &["process"], &labels)
                .is_err()
        );
        // A `helm` on PATH is not a Helm runtime: the node has no Helm driver.
        host.tools.push("helm".into());
        let caps = host
            .capabilities("edge-1", &["wasm", "process", "compose"], &labels)
            .unwrap();
        assert_eq!(caps.deployment_types(), ["wasm", "process", "compose"]);
    }
}
