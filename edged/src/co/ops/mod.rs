//! The CO's operations: what the north and south handlers ask for, as plain
//! functions over the [`Store`](super::store::Store) that take and return
//! API types and [`ApiError`](crate::error::ApiError) problems, but no HTTP
//! types. One module per group: the app store (`apps`), sites and devices
//! (`sites`, and removing one: `remove`), deployments and site history (`deployments`, with the
//! package-local `artifacts` they carry; one in detail: `detail`), identities and the caller checks
//! of the south listener (`identities`), observed state (`intake`), the LO's
//! long poll (`nudge`), the Margo API for directly attached nodes
//! (`direct`), logs and restarts on a node through its LO (`remote`),
//! site sticks (`export`), start-up repair (`recovery`),
//! changes going out in health-gated waves (`rollout`), and the
//! server's own state (`status`), and who may call the north API, with the
//! audit log of what they changed (`access`), and the "did you mean" of
//! not-found answers (`suggest`).

pub(crate) mod access;
pub(crate) mod apply;
pub(crate) mod apps;
pub(crate) mod artifacts;
pub(crate) mod ca;
pub(crate) mod change;
pub(crate) mod deployments;
pub(crate) mod detail;
pub(crate) mod direct;
pub(crate) mod export;
pub(crate) mod identities;
pub(crate) mod intake;
pub(crate) mod nudge;
pub(crate) mod recovery;
pub(crate) mod remote;
pub(crate) mod remove;
pub(crate) mod rollback;
pub(crate) mod rollout;
pub(crate) mod sites;
pub(crate) mod status;
pub(crate) mod suggest;
pub(crate) mod update;
