//! The CO's CA as the north API shows and rotates it: the anchors of its
//! trust bundle with their states, and the steps of a rotation
//! (`co/rotate.rs`), each taken under the store's write lock and put in
//! force at once (what the Trust Bundle API serves, what the south listener
//! trusts).

use edge_api::types::{CaAnchor, CaInfo, CaStep};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::co::ca::Ca;
use crate::co::rotate::{self, RotateError};
use crate::co::store::Store;
use crate::error::ApiError;

/// The anchors and their states.
pub(crate) fn info(store: &Store) -> CaInfo {
    describe(&store.ca(), store.trust_refresh, Vec::new())
}

fn anchor(pem: &str, generation: u32, state: &str, since: i64) -> CaAnchor {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok();
    CaAnchor {
        generation,
        state: state.to_owned(),
        pin: der
            .as_ref()
            .map(|d| edge_model::digest::sha256(d.as_ref()).to_string())
            .unwrap_or_default(),
        not_after: der
            .as_ref()
            .and_then(|d| edge_api::mtls::not_after(d))
            .map(crate::clock::format_unix)
            .unwrap_or_default(),
        since: (since > 0).then(|| crate::clock::format_unix(since)),
    }
}

fn describe(ca: &Ca, refresh: u64, dropped: Vec<u32>) -> CaInfo {
    let mut anchors = vec![anchor(
        &ca.active.cert_pem,
        ca.active.number,
        "active",
        ca.active.since,
    )];
    if let Some(n) = &ca.next {
        anchors.push(anchor(&n.cert_pem, n.number, "staged", n.since));
    }
    for r in &ca.retired {
        anchors.push(anchor(&r.cert_pem, r.number, "retired", r.retired_at));
    }
    CaInfo {
        trust_domain: ca.trust_domain().to_owned(),
        sequence: ca.sequence(),
        refresh_seconds: refresh,
        anchors,
        dropped,
    }
}

/// Take rotation step `step` (`stage`, `activate`, `retire`).
pub(crate) fn step(store: &Store, step: &str, opts: &CaStep) -> Result<CaInfo, ApiError> {
    let _w = store.write_lock();
    let ca = store.ca();
    let refused = |e: RotateError| match e {
        RotateError::Conflict(m) => ApiError::conflict(m),
        RotateError::Io(e) => ApiError::internal(&e),
    };
    let (new, dropped) = match step {
        "stage" => (rotate::stage(&ca).map_err(refused)?, Vec::new()),
        "activate" => (
            rotate::activate(&ca, store.trust_refresh, opts.force).map_err(refused)?,
            Vec::new(),
        ),
        "retire" => {
            let now = crate::clock::now();
            rotate::retire(&ca, opts.force, |retired_at| {
                let before = crate::clock::format_unix(retired_at);
                crate::co::db::identities::valid_issued_before(&store.db(), &before, &now)
                    .map_err(anyhow::Error::from)
            })
            .map_err(refused)?
        }
        other => {
            return Err(ApiError::not_found(format!(
                "`{other}` is not a step of a CA rotation: stage, activate or retire"
            )));
        }
    };
    store.set_ca(new).map_err(|e| ApiError::internal(&e))?;
    let ca = store.ca();
    tracing::info!(step, sequence = ca.sequence(), "CA rotation step taken");
    Ok(describe(&ca, store.trust_refresh, dropped))
}
