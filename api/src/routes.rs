//! Every north API path, named once for the router and the client.

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
/// Labels of a device (router pattern).
pub const DEVICE_LABELS: &str = "/api/devices/{device}/labels";

/// Put `value` into a `{name}` pattern, percent-encoding it.
#[must_use]
pub fn fill(pattern: &str, value: &str) -> String {
    let start = pattern.find('{').unwrap_or(pattern.len());
    let end = pattern.find('}').map_or(pattern.len(), |e| e + 1);
    format!("{}{}{}", &pattern[..start], encode(value), &pattern[end..])
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
    }
}
