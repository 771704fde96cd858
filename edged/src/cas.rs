//! The artifact store of every mode is `edge_cas` (layout, verified writes,
//! pins, garbage collection); this module adds what only a daemon does
//! with it: filling it from a fleet manager's or the CO's blob endpoint
//! over the south API, resuming with HTTP ranges.

use std::path::PathBuf;

use edge_api::south::{CallError, South};
use edge_model::Digest;

pub(crate) use edge_cas::{Cas, CasError, MAX_ARTIFACT};

/// Why an artifact could not be had from a server.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// The server did not give it (404 when it holds no such artifact).
    #[error(transparent)]
    Call(#[from] CallError),
    /// It arrived but could not be stored (too large, other bytes, disk).
    #[error(transparent)]
    Store(#[from] CasError),
}

impl FetchError {
    /// The server is the cause: it could not be reached, refused, or its
    /// answer broke off (worth answering 503 and retrying), as opposed to
    /// the local store failing.
    pub(crate) fn is_upstream(&self) -> bool {
        matches!(self, Self::Call(_) | Self::Store(CasError::Source { .. }))
    }
}

/// Filling the store from a server's blob endpoint.
pub(crate) trait FetchBlob {
    /// App `app`'s artifact `digest` from `server`'s blob endpoint into
    /// the store (at most `limit` bytes), resuming a partial copy left by
    /// an earlier attempt; the stored file.
    ///
    /// # Errors
    /// When the server does not give it or it cannot be stored.
    fn fetch_blob(
        &self,
        server: &South,
        app: &str,
        digest: &Digest,
        limit: u64,
    ) -> Result<PathBuf, FetchError>;
}

impl FetchBlob for Cas {
    fn fetch_blob(
        &self,
        server: &South,
        app: &str,
        digest: &Digest,
        limit: u64,
    ) -> Result<PathBuf, FetchError> {
        let url = server.blob_url(app, digest.as_str());
        let mut failed = None;
        let stored = self.fill(digest, limit, &url, |have| {
            if have > 0 {
                tracing::info!(url, from = have, "resuming a download");
            }
            server
                .open_blob(app, digest.as_str(), have)
                .map(|(start, r)| (start, Box::new(r) as Box<dyn std::io::Read>))
                .map_err(|e| {
                    // Only to end the fill: the typed error is what is returned.
                    let stand_in = CasError::source(&url, e.to_string());
                    failed = Some(e);
                    stand_in
                })
        });
        match (stored, failed) {
            (Ok(path), _) => Ok(path),
            (Err(_), Some(call)) => Err(FetchError::Call(call)),
            (Err(e), None) => Err(FetchError::Store(e)),
        }
    }
}
