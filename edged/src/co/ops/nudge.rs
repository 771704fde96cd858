//! The nudge an LO long-polls for (`GET /lo/v1/watch`): the site's head, its
//! revoked device certificates and those the CO issued for it, answered at
//! once when they differ from what the LO has, else as soon as they do, or
//! after the wait with the unchanged state. Asked to, a new head comes with
//! the Git objects the LO lacks when they are few and small (a change or
//! two), so the LO's mirror moves without a Git fetch; otherwise the LO
//! fetches.

use std::sync::Arc;
use std::time::Duration;

use edge_api::types::WatchReply;

use crate::co::db::identities::{issued_devices, revoked_devices};
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::blocking;

/// Longest a watch waits before answering with the unchanged state.
pub(crate) const MAX_WAIT_SECS: u64 = 60;

/// Most new commits whose objects ride on a nudge.
const CARRY_COMMITS: usize = 8;
/// Most bytes the objects riding on a nudge may take on the wire (zlib and
/// base64); more is left to a Git fetch, which sends deltas. Kept under the
/// 10 KB a change may cost between CO and LO (DESIGN.md §9).
const CARRY_BYTES: usize = 8 * 1024;

/// What the LO of `site` should have now; with `carry`, the objects of a
/// new head after `have`, when few.
fn state(
    store: &Store,
    site: &str,
    have: Option<&str>,
    carry: bool,
) -> Result<WatchReply, ApiError> {
    let mut head = store.site_head(site)?;
    let mut objects = None;
    if let (true, Some(have), Some(now)) = (carry, have, head.as_deref())
        && have != now
    {
        let git_dir = store.site_repo(site).join(".git");
        let limits = edge_workspace::git::DeltaLimits {
            commits: CARRY_COMMITS,
            // Raw bytes: compressed they shrink; checked again below.
            bytes: CARRY_BYTES * 8,
        };
        match edge_workspace::git::objects_after(&git_dir, "refs/heads/main", have, limits) {
            Ok(Some((at, found))) => {
                let (wire, size) = crate::south::carried::encode(&found);
                if size <= CARRY_BYTES {
                    // The head the objects lead to (a commit may have come meanwhile).
                    head = Some(at);
                    objects = Some(wire);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(site, error = %e, "cannot gather the objects of a change; the LO fetches them");
            }
        }
    }
    let conn = store.db();
    let revoked = revoked_devices(&conn, site)?;
    let issued = issued_devices(&conn, site)?;
    Ok(WatchReply {
        head,
        revoked,
        issued,
        objects,
    })
}

/// The state of `site` once it differs from what its LO has (the head
/// `have`, `revoked` revoked and `issued` issued certificates; both lists
/// only ever change by enrolling, which adds one issued, or revoking, which
/// moves one from issued to revoked, so their lengths tell), or after
/// `wait` seconds (at most [`MAX_WAIT_SECS`]), or at once when the CO is
/// stopping; with `carry`, a new head comes with its objects when they are
/// few.
pub(crate) async fn wait(
    store: Arc<Store>,
    site: String,
    have: Option<String>,
    (revoked, issued): (Option<usize>, Option<usize>),
    wait: u64,
    carry: bool,
) -> Result<WatchReply, ApiError> {
    // Subscribed before the state is read, so no change is missed.
    let mut changes = store.subscribe(&site);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.min(MAX_WAIT_SECS));
    loop {
        changes.borrow_and_update();
        let (s, site2, have2) = (store.clone(), site.clone(), have.clone());
        let now = blocking(move || state(&s, &site2, have2.as_deref(), carry)).await?;
        let stale = now.head != have
            || Some(now.revoked.len()) != revoked
            || Some(now.issued.len()) != issued;
        if stale {
            if let Some(head) = &now.head
                && let Some(tp) = crate::trace::SITES.get(&site, head)
            {
                let span = crate::trace::adopt(
                    tracing::info_span!(
                        "co.watch.answer",
                        site,
                        head,
                        trace_id = tracing::field::Empty,
                        span_id = tracing::field::Empty
                    ),
                    Some(tp),
                );
                span.in_scope(|| tracing::debug!("a site's LO told of its new head"));
            }
            tracing::debug!(
                target: "latency",
                site,
                carried = now.objects.as_ref().map_or(0, Vec::len),
                "watch answered"
            );
        }
        if stale || tokio::time::Instant::now() >= deadline {
            return Ok(now);
        }
        // A stopping CO answers with what it has, at once.
        let woke = tokio::select! {
            changed = tokio::time::timeout_at(deadline, changes.changed()) => changed.is_ok(),
            () = crate::stop::requested() => false,
        };
        if !woke {
            return Ok(now);
        }
    }
}
