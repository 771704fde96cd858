//! What the CO offers LOs besides Git: the nudge (`GET /lo/v1/watch`, a
//! long poll answered when the site's head, revoked or issued device
//! certificates differ from what the LO has, carrying the Git objects of a
//! new head when they are few) and intake (`POST /lo/v1/intake`, batches
//! from its outbox). The caller must be a site's unrevoked LO.

use std::sync::Arc;

use axum::extract::{Extension, State};
use edge_api::types::{IntakeAck, WatchReply};
use serde::Deserialize;

use crate::co::ops::identities::lo_site;
use crate::co::ops::intake::{self, MAX_INTAKE};
use crate::co::ops::nudge;
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::{BoundedBody, QueryParams, blocking};
use crate::south::Caller;

/// Query of `GET /lo/v1/watch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchQuery {
    /// The head the LO has.
    have: Option<String>,
    /// How many revoked fingerprints the LO knows.
    revoked: Option<usize>,
    /// How many issued fingerprints the LO knows (absent: none yet).
    issued: Option<usize>,
    /// Seconds to wait for a change (at most 60).
    wait: Option<u64>,
    /// Carry the Git objects of a new head when they are few.
    carry: Option<bool>,
}

/// The nudge: answer at once when the LO's view is stale, else when it
/// becomes stale, or after `wait` seconds with the unchanged state.
pub(crate) async fn watch(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    QueryParams(q): QueryParams<WatchQuery>,
) -> Result<axum::Json<WatchReply>, ApiError> {
    let s = store.clone();
    let site = blocking(move || lo_site(&s, &caller)).await?;
    nudge::wait(
        store,
        site,
        q.have,
        (q.revoked, q.issued),
        q.wait.unwrap_or(0),
        q.carry.unwrap_or(false),
    )
    .await
    .map(axum::Json)
}

/// Status and capabilities forwarded by an LO.
pub(crate) async fn intake(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    BoundedBody(body): BoundedBody<MAX_INTAKE>,
) -> Result<axum::Json<IntakeAck>, ApiError> {
    use tracing::Instrument as _;
    let batch = intake::read_batch(&body)?;
    let span = crate::trace::adopt(
        tracing::info_span!(
            "co.intake",
            entries = batch.entries.len(),
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty
        ),
        crate::trace::Traceparent::from_headers(&headers),
    );
    blocking(move || {
        let site = lo_site(&store, &caller)?;
        let acked = intake::from_lo(&store, &site, &batch)?;
        Ok(axum::Json(IntakeAck { acked }))
    })
    .instrument(span)
    .await
}
