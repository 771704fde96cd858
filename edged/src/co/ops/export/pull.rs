//! Pulling what an export carries from its registry into the CO's store:
//! one pull at a time, resumable, digest verified, the reference pinned.

use std::sync::Mutex;

use edge_model::Digest;
use edge_workspace::oci::{Blob, BlobSource, OciError};

use crate::cas::CasError;
use crate::co::store::Store;

/// Pulls one at a time: two exports filling the same partial download would
/// mix their bytes (the digest check would refuse them, but both would fail).
pub(super) static PULLING: Mutex<()> = Mutex::new(());

/// Whether the plan pulls registry artifacts (`edgectl co export` asking
/// what to write) or only names what earlier pulls pinned (a blob download).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fetch {
    Pull,
    Pinned,
}

/// Why an artifact or image could not be pulled for an export (the text
/// is the cause's own: the export's message names the reference).
#[derive(Debug, thiserror::Error)]
pub(crate) enum PullError {
    #[error(transparent)]
    Registry(#[from] OciError),
    #[error(transparent)]
    Store(#[from] CasError),
    #[error(transparent)]
    Digest(#[from] edge_model::id::InvalidId),
}

/// The artifact `reference` names now, pulled into the CO's store and
/// pinned there; with [`Fetch::Pinned`], only what was pinned before.
pub(super) fn pull(
    store: &Store,
    reference: &str,
    how: Fetch,
) -> Result<Option<(Digest, u64, String)>, PullError> {
    if how == Fetch::Pinned {
        return Ok(store
            .cas()
            .pinned(reference)
            .filter(|(d, _)| store.cas().get(d).is_some())
            .map(|(d, size)| (d, size, "application/octet-stream".to_owned())));
    }
    let _one = PULLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let source = BlobSource::new(reference, &store.registries)?;
    let blob = source.resolve(crate::cas::MAX_ARTIFACT)?;
    let digest = fill(store, &source, &blob, reference)?;
    store.cas().pin(reference, &digest, blob.size)?;
    Ok(Some((digest, blob.size, blob.media_type)))
}

/// `blob` of `reference` downloaded from `source` into the CO's store
/// (resuming a partial download; verified), unless it is there already.
pub(super) fn fill(
    store: &Store,
    source: &BlobSource,
    blob: &Blob,
    reference: &str,
) -> Result<Digest, PullError> {
    let digest = Digest::new(&blob.digest)?;
    if store.cas().get(&digest).is_none() {
        tracing::info!(reference, digest = %digest, size = blob.size, "pulling for an export");
    }
    store.cas().fill(&digest, blob.size, reference, |have| {
        let (start, reader) = source
            .open(blob, have)
            .map_err(|e| crate::cas::CasError::source(reference, e))?;
        Ok((start, Box::new(reader) as Box<dyn std::io::Read>))
    })?;
    Ok(digest)
}
