//! Request and response bodies of the north API that are not Margo documents.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod access;
mod ca;
mod device;

pub use access::{AuditEntry, CreateToken, CreatedToken, Scope, TokenInfo};
pub use ca::{CaAnchor, CaInfo, CaStep};

/// `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerStatus {
    /// Server version.
    pub version: String,
    /// `ok` when the database and workspace answer.
    pub health: String,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Applications in the store.
    pub apps: u64,
    /// Application versions in the store.
    pub app_versions: u64,
    /// Sites.
    pub sites: u64,
    /// Devices.
    pub devices: u64,
    /// Deployments.
    pub deployments: u64,
}

/// Where an application package comes from (`POST /api/apps`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddAppRequest {
    /// `git` or `oci`.
    pub source: SourceKind,
    /// Git URL (`https://…`) or OCI reference (`registry/repo:tag`, `oci://` optional).
    pub url: String,
    /// Git branch or tag (Git sources only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Folder of the package inside a Git repository, or the expected app id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Kinds of remote package source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A Git repository holding `margo.yaml`.
    Git,
    /// A Margo package OCI artifact.
    Oci,
}

/// One line of `GET /api/apps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppSummary {
    /// Application id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Newest version.
    pub latest: String,
    /// Every version, oldest first.
    pub versions: Vec<String>,
    /// Profile types of the newest version.
    pub profiles: Vec<String>,
    /// Short description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One version of an app, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppVersion {
    /// Version (`metadata.version`).
    pub version: String,
    /// Where it came from: `upload:<name>`, a Git URL or an OCI reference.
    pub source: String,
    /// Workspace commit that added it.
    pub commit: String,
    /// When it was added (RFC 3339).
    pub added_at: String,
    /// sha256 of its `margo.yaml`.
    pub digest: String,
}

/// `GET /api/apps/{app}`: metadata, profiles, parameters and schema, versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppDetail {
    /// Application id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Every version, oldest first.
    pub versions: Vec<AppVersion>,
    /// The newest version's ApplicationDescription (rc.3 form).
    #[schema(value_type = Object)]
    pub description: serde_json::Value,
}

/// `POST /api/sites`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSite {
    /// Site id: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Site {
    /// Site id.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Devices at the site.
    pub devices: u64,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

/// `POST /api/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateDevice {
    /// Device id (Margo DeviceId).
    pub id: String,
    /// Site it belongs to.
    pub site: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `POST /api/devices/batch`: register many devices, all or none, in one
/// commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateDevices {
    /// The devices (1 to 10,000).
    pub devices: Vec<CreateDevice>,
}

/// A device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Device {
    /// Device id.
    pub id: String,
    /// Site.
    pub site: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Last reported capabilities (DeviceCapabilitiesManifest), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub capabilities: Option<serde_json::Value>,
    /// When the device was last heard from (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heard: Option<String>,
    /// Deployments on the device.
    pub deployments: Vec<String>,
    /// When it was registered (RFC 3339).
    pub created_at: String,
    /// Its identity: the newest certificate the CO issued it (enrolling
    /// again revokes the earlier ones); none before it is enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<DeviceIdentity>,
}

/// The certificate the CO issued a device last, and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceIdentity {
    /// `valid`, `revoked` or `expired`: whether the device may still talk
    /// to its fleet manager with it.
    pub state: String,
    /// Its SPIFFE ID (`…/margo/wfm/<site>/client/<device>`, or
    /// `…/margo/wfm/co/client/<device>` for a node attached to the CO).
    pub spiffe_id: String,
    /// When it was issued (RFC 3339).
    pub issued_at: String,
    /// The end of its validity (RFC 3339).
    pub valid_until: String,
    /// When it was revoked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// The answer to removing a site or a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Removal {
    /// `site` or `device`.
    pub kind: String,
    /// The site's name, or the device's id.
    pub name: String,
    /// The site (the device's, for a device).
    pub site: String,
    /// How many devices were removed (the site's, or the one).
    pub devices: u64,
    /// The deployments removed first (`force`), by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undeployed: Vec<String>,
    /// How many identities were revoked (the device's; a site's LO's and
    /// its devices').
    pub revoked: u64,
}

/// `PUT …/labels`: the complete new label set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Labels {
    /// Labels, replacing the old ones.
    pub labels: BTreeMap<String, String>,
}

/// `POST /api/deployments`: deploy an app to devices of one site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployRequest {
    /// App id or display name.
    pub app: String,
    /// Version (default: the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Site.
    pub site: String,
    /// One device (default: every device of the site that fits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Only devices with all these labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// Parameter values, as text; converted to their schema's type.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Profile type (`helm`, `compose`, `wasm`, `process`); default: the first profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_type: Option<String>,
    /// A name telling this deployment apart from others of the same app on
    /// the same device; without one, a device has at most one deployment of
    /// an app, and deploying it again updates that one in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Send the change in health-gated waves (a change of more than one
    /// device is always a rollout; without a policy, one wave).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutPolicy>,
    /// Work out and return the changes without making them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Also place on devices that have not reported their capabilities
    /// yet, unchecked (their deployment types and `deviceConstraints` are
    /// unknown); without it such a device is refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unreported: bool,
}

/// `POST /api/deployments/update`: change deployments in place (`edgectl co
/// set` and `co upgrade`). The deployments are chosen by id (or a unique
/// prefix of one), or by app with a site (or every site), a device or a
/// label selector; each keeps its id, and each site's changes are one commit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRequest {
    /// Deployment ids, or unique prefixes of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// Every deployment of this app (id or display name) at `site`, or at
    /// every site with `allSites`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The site of `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Every site instead of one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_sites: bool,
    /// Only on this device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Only on devices with all these labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// Move to this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Move to the app's newest version (when `version` is absent).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub newest: bool,
    /// Parameter values to change, as text; the others keep theirs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Send the change in health-gated waves (a change of more than one
    /// device is always a rollout; without a policy, one wave).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutPolicy>,
    /// Work out and return the changes without making them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// One desired deployment of `edgectl co apply`: an app at a site, on the
/// devices named, or those with the labels, or every device that fits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyEntry {
    /// Where it was written (`fleet/plant-1.yaml: deployments[3]`), named in
    /// every problem found with it.
    pub source: String,
    /// App id or display name.
    pub app: String,
    /// Version (default: the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Site.
    pub site: String,
    /// These devices of the site.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// Only devices with all these labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// The deployments' name, to tell them from others of the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Profile type; default: the app's first profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_type: Option<String>,
    /// Parameter values, as text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
}

/// `POST /api/apply`: make the fleet's deployments match `entries`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyRequest {
    /// The desired deployments.
    pub entries: Vec<ApplyEntry>,
    /// Also remove deployments made by an earlier apply that no entry names.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
    /// Send the change in health-gated waves (a change of more than one
    /// device is always a rollout; without a policy, one wave).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutPolicy>,
    /// Work out and return the changes without making them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Also place on devices that have not reported their capabilities
    /// yet, unchecked (see [`DeployRequest::allow_unreported`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unreported: bool,
}

/// A deployment as the CO records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSummary {
    /// Deployment id (UUID).
    pub id: String,
    /// App id.
    pub app: String,
    /// App version.
    pub version: String,
    /// Site.
    pub site: String,
    /// Device.
    pub device: String,
    /// Profile type.
    pub profile: String,
    /// Site repository commit that last changed it (empty in a dry run's
    /// answer for a change not made).
    pub commit: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// Its name, when it was given one (`--name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// In the answer to a change: `created`, `updated`, `unchanged` or
    /// `removed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// In the answer to an update: what changed (`version 1.0.0 → 1.1.0`,
    /// `parameter greeting`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// The last state its device reported (`pending`, `installing`,
    /// `installed`, `failed`, `removing`, `removed`); absent before any report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When that state was reported (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_at: Option<String>,
    /// The error message of a `failed` state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// In the answer to a change that is a rollout: the rollout's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
    /// In the answer to a change that is a rollout: the wave this
    /// deployment's change goes out in (1 is sent at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<u32>,
    /// The last report is about an earlier document of this deployment:
    /// its latest change has not reached (or not been taken up by) its
    /// device yet, and `state` is what it said before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// `GET /api/deployments/{deployment}`: one deployment in detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentDetail {
    /// The deployment as listed, with the state its device last reported.
    pub summary: DeploymentSummary,
    /// Its ApplicationDeployment as the site's repository holds it (what
    /// the site's LO serves), as JSON.
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
    /// Its parameter values, by name (`null` for one without a value).
    #[schema(value_type = Object)]
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// The values set for it (`--set`), as given, by name; the other
    /// parameters have the app's defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
}

/// How a change reaches its devices: in waves, each waiting until its
/// devices report the change installed (or its time runs out), within a
/// budget of failures; on a breach the rollout pauses, or rolls back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutPolicy {
    /// How far each wave goes, cumulative: a count of devices (`1`) or a
    /// share of them (`10%`); the last wave always reaches every device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<String>,
    /// Waves of this many devices each (instead of `waves`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// Devices that may fail, or not report in time, before the rollout
    /// stops: a count (`2`) or a share (`5%`); default `0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<String>,
    /// On a breach, put the previous deployments back on every device the
    /// rollout changed (default: pause and wait for the user).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_rollback: bool,
    /// Seconds a wave waits for its devices (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave_timeout_secs: Option<u64>,
}

/// A rollout (`GET /api/rollouts`, `/api/rollouts/{rollout}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rollout {
    /// Its id (a number, counting up).
    pub id: String,
    /// `running`, `paused`, `done`, `rolled-back` or `undone`.
    pub state: String,
    /// Why it is in that state (a breach, who paused it, failures within
    /// the budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The change, as its commits say it.
    pub description: String,
    /// Who made the change.
    pub by: String,
    /// When it began (RFC 3339).
    pub created_at: String,
    /// When its state last changed (RFC 3339).
    pub updated_at: String,
    /// Its policy, as given.
    pub policy: RolloutPolicy,
    /// The sites it spans.
    pub sites: Vec<String>,
    /// Deployments it changes.
    pub total: u32,
    /// Failures allowed (devices).
    pub budget: u32,
    /// Devices failed or timed out so far.
    pub failures: u32,
    /// The waves sent so far.
    pub wave: u32,
    /// Every wave, in order.
    pub waves: Vec<RolloutWave>,
    /// Each deployment it changes (in the answer for one rollout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<RolloutTarget>,
}

/// One wave of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutWave {
    /// 1, 2, …
    pub number: u32,
    /// Deployments in it.
    pub size: u32,
    /// Reported installed (the new document).
    pub healthy: u32,
    /// Reported failed, or not reported in time.
    pub failed: u32,
    /// Sent and not reported yet.
    pub waiting: u32,
    /// `pending`, `running`, `paused`, `done`, `rolled-back` (sent, then
    /// undone) or `cancelled` (never sent).
    pub state: String,
    /// When it was sent (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// When its time runs out (RFC 3339), while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

/// One deployment a rollout changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutTarget {
    /// The deployment.
    pub deployment: String,
    /// Its site.
    pub site: String,
    /// Its device.
    pub device: String,
    /// Its app.
    pub app: String,
    /// The wave it goes out in.
    pub wave: u32,
    /// `created`, `updated` or `removed`.
    pub change: String,
    /// The version before (absent for a new deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
    /// The version after (absent for a removal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_version: Option<String>,
    /// `pending` (its wave not sent), `waiting`, `healthy`, `failed`,
    /// `timed-out`, `superseded` (changed by something else since),
    /// `rolled-back` or `cancelled`.
    pub state: String,
    /// The device's error, when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the CO tells a waiting LO (`GET /lo/v1/watch`, south listener): the
/// site repository's head, the fingerprints of the site's revoked device
/// certificates and of those the CO issued for it (the LO accepts no other).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WatchReply {
    /// The site repository's `main` commit; absent before the first deploy.
    pub head: Option<String>,
    /// SHA-256 fingerprints of revoked device certificates of the site.
    pub revoked: Vec<String>,
    /// SHA-256 fingerprints of the unrevoked device certificates the CO
    /// issued for the site.
    #[serde(default)]
    pub issued: Vec<String>,
    /// Asked for (`carry=true`) and when few and small: the Git objects of
    /// the commits after the LO's `have` up to `head`, so the LO's mirror
    /// moves without a fetch; absent otherwise (the LO fetches with Git).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<Vec<CarriedObject>>,
}

/// One Git object riding on a [`WatchReply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CarriedObject {
    /// Its id (hex); the receiver checks the content against it.
    pub id: String,
    /// `commit`, `tree`, `blob` or `tag`.
    pub kind: String,
    /// Its content, zlib-compressed, in base64 (standard alphabet, padded).
    pub data: String,
}

/// What an LO forwards from its outbox (`POST /lo/v1/intake`, south
/// listener), and what a site stick carries back (`POST /api/sites/{site}/intake`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntakeBatch {
    /// Identifies the LO's outbox; sequence numbers count within it.
    pub epoch: String,
    /// Entries in the order they were queued.
    pub entries: Vec<IntakeEntry>,
}

/// One queued report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntakeEntry {
    /// Position in the outbox (strictly increasing).
    pub seq: i64,
    /// `capabilities`, `capabilities-deleted` or `status`.
    pub kind: String,
    /// The reporting device.
    pub device: String,
    /// The document as the device sent it (JSON text); empty for deletions.
    pub body: String,
    /// When the LO received it (RFC 3339).
    pub received_at: String,
    /// For a status report: the digest of the deployment document the
    /// device acted on, when the LO could tell (the report is about an
    /// earlier document otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// The CO's answer to an intake batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntakeAck {
    /// Every entry up to this sequence number is stored at the CO.
    pub acked: i64,
}

/// One commit of a site repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Commit {
    /// Commit id.
    pub id: String,
    /// Message.
    pub message: String,
    /// Author.
    pub author: String,
    /// When (RFC 3339).
    pub time: String,
}

/// One change at the CO, as `GET /api/events` streams it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Event {
    /// Increasing number (the SSE id; resume with `Last-Event-ID`).
    pub id: u64,
    /// `deployment.created`, `deployment.updated` (with `changes`), `deployment.removed`, `status`, `device.added`,
    /// `device.capabilities`, `device.removed`, `site.added`, `site.removed`, `app.added`,
    /// `app.removed`.
    pub kind: String,
    /// The deployment, device, site or app it is about.
    pub subject: String,
    /// The site, where one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Details (for `status`: `state`, `device`, `error`).
    #[serde(default)]
    pub data: serde_json::Value,
    /// When it happened (RFC 3339, UTC).
    pub at: String,
}

/// `GET /api/sites/{site}/export`: what a USB stick of the site must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteExport {
    /// The site.
    pub site: String,
    /// The head commit of its repository; `None` before its first deployment.
    pub head: Option<String>,
    /// Every artifact its deployments at the head name.
    pub artifacts: Vec<ExportArtifact>,
    /// Components its deployments take from a registry that a stick does
    /// not carry (container images, charts, compose components; modules
    /// and binaries from `oci://` are among `artifacts`).
    #[serde(default)]
    pub in_registries: Vec<String>,
    /// When the CO answered (RFC 3339, UTC).
    pub at: String,
    /// SHA-256 fingerprints of the site's revoked device certificates.
    #[serde(default)]
    pub revoked: Vec<String>,
    /// SHA-256 fingerprints of the unrevoked device certificates the CO
    /// issued for the site.
    #[serde(default)]
    pub issued: Vec<String>,
    /// The CO's CA signature (hex) over the stick statement of all the
    /// above (`edge_workspace::stick::Statement`), for a stick plan.
    #[serde(default)]
    pub signature: String,
}

/// One artifact of a site's deployments.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportArtifact {
    /// `sha256:…`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
    /// The app of the deployment that names it.
    pub app: String,
    /// The component it is the artifact of.
    pub component: String,
    /// The registry reference (`oci://host/name:tag` or `…@sha256:…`) it
    /// answers for, when the component comes from a registry; the CO pulled
    /// it when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// `GET /v2/{name}/pins?reference=…` on an LO: the artifact it holds for a
/// registry reference (from a site stick), to be fetched by digest from
/// `/v2/{name}/blobs/{digest}` when the registry cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactPin {
    /// The reference asked for (`oci://…`).
    pub reference: String,
    /// `sha256:…` of the artifact.
    pub digest: String,
    /// Bytes.
    pub size: u64,
}

/// `GET /v2/{name}/pins` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PinQuery {
    /// The registry reference (`oci://…`).
    pub reference: String,
}

/// `GET /api/sites/{site}/export` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportQuery {
    /// List the container images that cannot be pulled (as needing their
    /// registry) instead of failing the export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_images: Option<bool>,
}

/// `GET /api/sites/{site}/export/git` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportGitQuery {
    /// The commit the stick already holds, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub have: Option<String>,
}

/// `POST /api/sites/{site}/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackRequest {
    /// The commit whose desired state to restore (full or abbreviated id).
    pub to: String,
    /// Work out and return what would change, deployment by deployment,
    /// without changing anything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// `POST /api/enrollments`: issue an identity for a site's LO, or for a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollRequest {
    /// The site.
    pub site: String,
    /// The device; absent for the site's Local Orchestrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The device attaches to the CO directly rather than to the site's LO:
    /// its SPIFFE ID is `…/margo/wfm/co/client/<device>`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub direct: bool,
    /// Host names and IP addresses an LO's certificate names besides its
    /// SPIFFE ID, so OCI clients that check the server by host name
    /// (podman, skopeo) can verify the LO's registry; an LO only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// An enrolment bundle: the only time the private key is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Enrollment {
    /// The SPIFFE ID in the certificate.
    pub spiffe_id: String,
    /// SHA-256 of the certificate (how the CO recognizes it).
    pub fingerprint: String,
    /// Expiry (RFC 3339).
    pub not_after: String,
    /// The identity certificate, PEM.
    pub certificate: String,
    /// Its private key, PEM.
    pub private_key: String,
    /// The CA certificate to trust, PEM.
    pub ca_bundle: String,
    /// The CO's south (mTLS) URL.
    pub south_url: String,
}

/// `POST /api/revocations`: revoke the identities of a site's LO, or of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokeRequest {
    /// The site.
    pub site: String,
    /// The device; absent for the site's Local Orchestrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// The answer to a revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revoked {
    /// How many identities were revoked.
    pub revoked: u64,
}
