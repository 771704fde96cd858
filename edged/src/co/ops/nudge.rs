//! The nudge an LO long-polls for (`GET /lo/v1/watch`): the site's head, its
//! revoked device certificates and those the CO issued for it, answered at
//! once when they differ from what the LO has, else as soon as they do, or
//! after the wait with the unchanged state.

use std::sync::Arc;
use std::time::Duration;

use edge_api::types::WatchReply;

use crate::co::db::identities::{issued_devices, revoked_devices};
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::blocking;

/// Longest a watch waits before answering with the unchanged state.
pub(crate) const MAX_WAIT_SECS: u64 = 60;

/// What the LO of `site` should have now.
fn state(store: &Store, site: &str) -> Result<WatchReply, ApiError> {
    let head = store.site_head(site)?;
    let conn = store.db();
    let revoked = revoked_devices(&conn, site)?;
    let issued = issued_devices(&conn, site)?;
    Ok(WatchReply {
        head,
        revoked,
        issued,
    })
}

/// The state of `site` once it differs from what its LO has (the head
/// `have`, `revoked` revoked and `issued` issued certificates; both lists
/// only ever change by enrolling, which adds one issued, or revoking, which
/// moves one from issued to revoked, so their lengths tell), or after
/// `wait` seconds (at most [`MAX_WAIT_SECS`]).
pub(crate) async fn wait(
    store: Arc<Store>,
    site: String,
    have: Option<String>,
    (revoked, issued): (Option<usize>, Option<usize>),
    wait: u64,
) -> Result<WatchReply, ApiError> {
    // Subscribed before the state is read, so no change is missed.
    let mut changes = store.subscribe(&site);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.min(MAX_WAIT_SECS));
    loop {
        changes.borrow_and_update();
        let (s, site2) = (store.clone(), site.clone());
        let now = blocking(move || state(&s, &site2)).await?;
        let stale = now.head != have
            || Some(now.revoked.len()) != revoked
            || Some(now.issued.len()) != issued;
        if stale {
            tracing::debug!(
                target: "latency",
                site,
                "watch answered"
            );
        }
        if stale || tokio::time::Instant::now() >= deadline {
            return Ok(now);
        }
        if tokio::time::timeout_at(deadline, changes.changed())
            .await
            .is_err()
        {
            return Ok(now);
        }
    }
}
