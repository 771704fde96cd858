//! Identifier newtypes and the Margo patterns they obey.
//!
//! Each newtype checks its pattern when it is built from a string (also during
//! serde deserialization), so a value of the type is always well formed. The
//! patterns are the ones of the rc.3 OpenAPI and the LinkML model (DIGEST §2).

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

fn re(pattern: &str) -> Regex {
    // The patterns below are compile-time constants covered by unit tests.
    #[allow(clippy::unwrap_used)]
    Regex::new(pattern).unwrap()
}

/// Application id: lower-case letters, digits and dashes, 1–200 characters.
pub(crate) static APP_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9-]{1,200}$"));
/// Deployment id: a UUID.
pub(crate) static UUID: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
});
/// Device id: RFC 3986 unreserved characters, `/` between gateway levels.
pub(crate) static DEVICE_ID: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$"));
/// Device id in a deployment: as [`DEVICE_ID`], optionally ending in `/*`.
pub(crate) static DEVICE_TARGET: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*(/\*)?$"));
/// Component name: lower-case letters, digits and dashes.
pub(crate) static COMPONENT_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9-]{1,200}$"));
/// Component revision: SemVer 2.0 without a leading `v`, `_` before build metadata.
pub(crate) static REVISION: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)",
        r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?",
        r"(?:_([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
    ))
});
/// Component timeout: `##m##s`.
pub(crate) static TIMEOUT: LazyLock<Regex> = LazyLock::new(|| re(r"^\d+m\d+s$"));
/// Specification extension key.
pub(crate) static EXTENSION_KEY: LazyLock<Regex> =
    LazyLock::new(|| re(r"^x-[a-z][a-z0-9-]*-extensions$"));
/// Memory quantity.
pub(crate) static MEMORY: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9]+(Mi|Gi|Ki)$"));
/// Storage quantity.
pub(crate) static STORAGE: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9]+(Mi|Gi|Ki|Ti|Pi|Ei)$"));
/// Digest: `sha256:` and 64 lower-case hex digits.
pub(crate) static DIGEST: LazyLock<Regex> = LazyLock::new(|| re(r"^sha256:[0-9a-f]{64}$"));
/// Path-only URL.
pub(crate) static URL_PATH: LazyLock<Regex> =
    LazyLock::new(|| re(r"^/[a-zA-Z0-9\-._~:/?#\[\]@!$&'()*+,;=]+$"));

/// A string that did not match the pattern of an identifier type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what}: {rule}")]
pub struct InvalidId {
    /// What kind of identifier was expected.
    pub what: &'static str,
    /// The rule it breaks, for people.
    pub rule: &'static str,
    /// The rejected value (cut to 80 characters).
    pub value: String,
}

/// Extra rule of identifiers with `/`-separated segments: no `.` or `..`
/// segment (they would name other places when used in paths).
fn segments_ok(value: &str) -> bool {
    value.split('/').all(|s| s != "." && s != "..")
}

fn any_ok(_: &str) -> bool {
    true
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $re:ident, $what:literal, $rule:literal) => {
        string_id!($(#[$doc])* $name, $re, any_ok, $what, $rule);
    };
    ($(#[$doc:meta])* $name:ident, $re:ident, $extra:ident, $what:literal, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// What this identifier is, for messages.
            pub const WHAT: &'static str = $what;
            /// The rule it must follow, for messages.
            pub const RULE: &'static str = $rule;

            /// Check `value` and wrap it.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                if $re.is_match(&value) && $extra(&value) {
                    Ok(Self(value))
                } else {
                    Err(InvalidId {
                        what: $what,
                        rule: $rule,
                        value: value.chars().take(80).collect(),
                    })
                }
            }

            /// Wrap a value the caller built to match the pattern.
            #[allow(dead_code)]
            pub(crate) fn new_unchecked(value: String) -> Self {
                debug_assert!($re.is_match(&value));
                Self(value)
            }

            /// Whether `value` would be accepted by [`Self::new`].
            #[must_use]
            pub fn is_valid(value: &str) -> bool {
                $re.is_match(value) && $extra(value)
            }

            /// The identifier as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// An application id (`metadata.id` of an ApplicationDescription).
    AppId,
    APP_ID,
    "application id",
    "use 1 to 200 lower-case letters, digits and dashes"
);
string_id!(
    /// A deployment id, a UUID assigned by the fleet manager.
    DeploymentId,
    UUID,
    "deployment id",
    "use a UUID such as a3e2f5dc-912e-494f-8395-52cf3769bc06"
);
string_id!(
    /// A device id; `/` separates the levels below a gateway.
    DeviceId,
    DEVICE_ID,
    segments_ok,
    "device id",
    "use letters, digits and `._~-`, with `/` between gateway levels (no `.` or `..` level)"
);
string_id!(
    /// The device a deployment targets: a device id, or `gateway/*` for any child.
    DeviceTarget,
    DEVICE_TARGET,
    segments_ok,
    "device target",
    "use a device id, optionally ending in `/*`"
);
string_id!(
    /// A component name within a deployment profile.
    ComponentName,
    COMPONENT_NAME,
    "component name",
    "use 1 to 200 lower-case letters, digits and dashes"
);
string_id!(
    /// A content digest, `sha256:` and 64 lower-case hex digits.
    Digest,
    DIGEST,
    "digest",
    "use `sha256:` followed by 64 lower-case hex digits"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_id_rules() {
        assert!(AppId::new("com-northstartida-hello-world").is_ok());
        assert!(AppId::new("Hello").is_err());
        assert!(AppId::new("a_b").is_err());
        assert!(AppId::new("a.b").is_err());
        assert!(AppId::new("").is_err());
        assert!(AppId::new("a".repeat(200)).is_ok());
        assert!(AppId::new("a".repeat(201)).is_err());
    }

    #[test]
    fn revision_is_semver_with_underscore_build() {
        for ok in [
            "1.0.0",
            "2.3.7",
            "1.0.0-rc.1",
            "1.0.0_build.5",
            "10.20.30-alpha_x",
        ] {
            assert!(REVISION.is_match(ok), "{ok}");
        }
        for bad in ["v1.0.0", "1.0", "01.0.0", "1.0.0+build", "latest"] {
            assert!(!REVISION.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn device_ids_and_targets() {
        assert!(DeviceId::new("gateway1/deviceA").is_ok());
        assert!(DeviceId::new("gateway1/*").is_err());
        assert!(DeviceTarget::new("gateway1/*").is_ok());
        assert!(DeviceId::new("a b").is_err());
        assert!(DeviceId::new("..").is_err());
        assert!(DeviceId::new("gw/../x").is_err());
        assert!(DeviceTarget::new("./*").is_err());
        assert!(DeviceId::new("a.b/c..d").is_ok());
    }

    #[test]
    fn serde_checks_the_pattern() {
        let ok: Result<DeploymentId, _> =
            serde_json::from_str("\"a3e2f5dc-912e-494f-8395-52cf3769bc06\"");
        assert!(ok.is_ok());
        let bad: Result<DeploymentId, _> = serde_json::from_str("\"not-a-uuid\"");
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("not a valid deployment id")
        );
    }

    #[test]
    fn other_patterns() {
        assert!(TIMEOUT.is_match("8m30s") && !TIMEOUT.is_match("90s"));
        assert!(EXTENSION_KEY.is_match("x-acme-extensions"));
        assert!(!EXTENSION_KEY.is_match("x-Acme-extensions"));
        assert!(MEMORY.is_match("59Gi") && !MEMORY.is_match("59GB"));
        assert!(STORAGE.is_match("2Ti") && !MEMORY.is_match("2Ti"));
        assert!(URL_PATH.is_match("/api/v1/bundles/sha256:00"));
    }
}
