//! Every path of every API, named once for the routers and the clients:
//! the north API (`edgectl` → CO, bearer token), and the south paths
//! served over mutual TLS: the Margo desired-state API (edge node → LO or
//! CO), the artifact blobs and pins beside it, and what an LO asks of its
//! CO (the site repository, the change watch, the outbox intake).

/// Liveness, no auth.
pub const HEALTH: &str = "/api/health";
/// The OpenAPI 3.1 document, no auth.
pub const OPENAPI: &str = "/api/openapi.json";
/// Server version, counts, health.
pub const STATUS: &str = "/api/status";
/// Prometheus metrics.
pub const METRICS: &str = "/metrics";
/// List apps; add one from a Git or OCI source.
pub const APPS: &str = "/api/apps";
/// Add an app from an uploaded package (tar).
pub const APPS_UPLOAD: &str = "/api/apps/upload";
/// One app (router pattern).
pub const APP: &str = "/api/apps/{app}";
/// Deployments.
pub const DEPLOYMENTS: &str = "/api/deployments";
/// Make the deployments match a set of desired ones (`co apply`, `co diff`).
pub const APPLY: &str = "/api/apply";
/// Change deployments in place (`co set`, `co upgrade`).
pub const DEPLOYMENTS_UPDATE: &str = "/api/deployments/update";
/// Rollouts: changes going out in health-gated waves.
pub const ROLLOUTS: &str = "/api/rollouts";
/// One rollout (router pattern; the id or a unique start of it).
pub const ROLLOUT: &str = "/api/rollouts/{rollout}";
/// Act on a rollout: `pause`, `resume` or `undo` (router pattern).
pub const ROLLOUT_ACTION: &str = "/api/rollouts/{rollout}/{action}";
/// One deployment (router pattern).
pub const DEPLOYMENT: &str = "/api/deployments/{deployment}";
/// The commits of a site's repository (router pattern).
pub const SITE_HISTORY: &str = "/api/sites/{site}/history";
/// Server-Sent Events of every change.
pub const EVENTS: &str = "/api/events";
/// What a USB stick of a site must hold (router pattern).
pub const SITE_EXPORT: &str = "/api/sites/{site}/export";
/// The site repository's objects a stick lacks, as a tar (router pattern).
pub const SITE_EXPORT_GIT: &str = "/api/sites/{site}/export/git";
/// One artifact of a site's deployments (router pattern).
pub const SITE_EXPORT_BLOB: &str = "/api/sites/{site}/export/blobs/{digest}";
/// Status and capabilities carried from a site on a stick (router pattern).
pub const SITE_INTAKE: &str = "/api/sites/{site}/intake";
/// Restore a site's desired state of an earlier commit (router pattern).
pub const SITE_ROLLBACK: &str = "/api/sites/{site}/rollback";
/// Issue identities.
pub const ENROLLMENTS: &str = "/api/enrollments";
/// Revoke identities.
pub const REVOCATIONS: &str = "/api/revocations";
/// The CO's CA: its anchors and their states.
pub const CA: &str = "/api/ca";
/// A step of a CA rotation: `stage`, `activate` or `retire`.
pub const CA_STEP: &str = "/api/ca/{step}";
/// API tokens (admin scope).
pub const TOKENS: &str = "/api/tokens";
/// One API token, by name (router pattern).
pub const TOKEN: &str = "/api/tokens/{name}";
/// The audit log of changes (admin scope).
pub const AUDIT: &str = "/api/audit";
/// Sites.
pub const SITES: &str = "/api/sites";
/// One site (router pattern).
pub const SITE: &str = "/api/sites/{site}";
/// Labels of a site (router pattern).
pub const SITE_LABELS: &str = "/api/sites/{site}/labels";
/// Devices.
pub const DEVICES: &str = "/api/devices";
/// One device (router pattern).
pub const DEVICE: &str = "/api/devices/{device}";
/// Register many devices at once.
pub const DEVICES_BATCH: &str = "/api/devices/batch";
/// Labels of a device (router pattern).
pub const DEVICE_LABELS: &str = "/api/devices/{device}/labels";

/// The state manifest a device polls (Margo, south).
pub const MARGO_MANIFEST: &str = "/api/v1/deployments";
/// One deployment document by digest (Margo, router pattern).
pub const MARGO_DEPLOYMENT: &str = "/api/v1/deployments/{id}/{digest}";
/// A device's status report of one deployment (Margo, router pattern).
pub const MARGO_STATUS: &str = "/api/v1/deployments/{id}/status";
/// The bundle of a device's deployments (Margo, router pattern).
pub const MARGO_BUNDLE: &str = "/api/v1/bundles/{digest}";
/// A device's capabilities report (Margo, router pattern).
pub const MARGO_CAPABILITIES: &str = "/api/v1/capabilities/{device}";
/// The same route as servers match it: a gateway's child (`gw-1/cam-2`)
/// arrives as one encoded segment (`gw-1%2Fcam-2`) or as two.
pub const MARGO_CAPABILITIES_ANY: &str = "/api/v1/capabilities/{*device}";
/// One artifact of an app by digest, OCI distribution style, single ranges
/// (south, router pattern).
pub const BLOB: &str = "/v2/{name}/blobs/{digest}";
/// The OCI registry's base (south: `GET /v2/`).
pub const OCI_BASE: &str = "/v2/";
/// Every OCI registry path under the base: manifests, blobs, tag lists
/// (south, router pattern; the name may hold `/`, so one catch-all).
pub const OCI: &str = "/v2/{*path}";
/// Which artifact the fleet manager holds for a registry reference
/// (`?reference=oci://…`; south, router pattern).
pub const PINS: &str = "/v2/{name}/pins";
/// A site's repository over Git smart HTTP (CO south; the router takes
/// `/git/{*path}`, a client asks `fill(SITE_GIT, site)`).
pub const SITE_GIT: &str = "/git/{site}.git";
/// The router pattern under which the CO serves every site repository.
pub const GIT: &str = "/git/{*path}";
/// The LO's long poll for changes of its site (CO south).
pub const LO_WATCH: &str = "/lo/v1/watch";
/// Batches of an LO's outbox (CO south).
pub const LO_INTAKE: &str = "/lo/v1/intake";
/// The LO's long poll for remote operations on its site's nodes (CO south).
pub const LO_OPS: &str = "/lo/v1/ops";
/// The result of one remote operation, posted by the LO (CO south).
pub const LO_OP: &str = "/lo/v1/ops/{id}";
/// An edge node's long poll for remote operations on it (LO, mutual TLS).
pub const NODE_OPS: &str = "/x-edgectl/v1/ops";
/// The result of one remote operation, posted by the node (LO, mutual TLS).
pub const NODE_OP: &str = "/x-edgectl/v1/ops/{id}";
/// A deployment's log, read from its device through the site's LO (north).
pub const DEPLOYMENT_LOGS: &str = "/api/deployments/{deployment}/logs";
/// Restart a deployment's workload on its device, through the LO (north).
pub const DEPLOYMENT_RESTART: &str = "/api/deployments/{deployment}/restart";

/// Put `value` into a `{name}` pattern, percent-encoding it.
#[must_use]
pub fn fill(pattern: &str, value: &str) -> String {
    let start = pattern.find('{').unwrap_or(pattern.len());
    let end = pattern.find('}').map_or(pattern.len(), |e| e + 1);
    format!("{}{}{}", &pattern[..start], encode(value), &pattern[end..])
}

/// Put `values` into the `{name}` parts of `pattern` in order,
/// percent-encoding each but for `:` and `@`, which a path segment may
/// hold (so a digest reads `sha256:…`); parts without a value stay as they
/// are.
#[must_use]
pub fn fill_all(pattern: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    for value in values {
        let (Some(start), Some(end)) = (rest.find('{'), rest.find('}')) else {
            break;
        };
        out.push_str(&rest[..start]);
        for part in value.split_inclusive([':', '@']) {
            match part.strip_suffix([':', '@']) {
                Some(head) => {
                    out.push_str(&encode(head));
                    out.push_str(&part[head.len()..]);
                }
                None => out.push_str(&encode(part)),
            }
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Percent-encode a path segment (everything but RFC 3986 unreserved).
#[must_use]
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_encodes() {
        assert_eq!(fill(APP, "hello-wasm"), "/api/apps/hello-wasm");
        assert_eq!(
            fill(APP, "Digitron orchestrator"),
            "/api/apps/Digitron%20orchestrator"
        );
        assert_eq!(fill(SITE_LABELS, "a/b"), "/api/sites/a%2Fb/labels");
        assert_eq!(fill(SITE_GIT, "plant-1"), "/git/plant-1.git");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            fill_all(BLOB, &["hello", &d]),
            format!("/v2/hello/blobs/{d}")
        );
        assert_eq!(
            fill_all(MARGO_STATUS, &["x y/z"]),
            "/api/v1/deployments/x%20y%2Fz/status"
        );
        assert_eq!(fill_all(BLOB, &["a@b:c"]), "/v2/a@b:c/blobs/{digest}");
    }
}
