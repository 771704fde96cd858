//! A trust bundle kept current, for an LO (from its CO) and an edge node
//! (from its fleet manager): fetched over the mutual-TLS link it already
//! trusts from the Trust Bundle API (`/.well-known/spiffe/bundle.json`) once
//! at start and then every `spiffe_refresh_hint` (bounded), with the ETag
//! kept; a new bundle is taken only when it holds an anchor that issued the
//! holder's own identity and its `spiffe_sequence` is not lower than the
//! kept one. It is written to `DATA/trust/` (bundle and ETag, each written
//! whole and renamed) and its anchors replace the holder's `TrustRoots` in
//! place, so every TLS setting made from them (listener and clients) checks
//! the next handshake against them: a CA staged at the CO is trusted before
//! it signs anything (`co/rotate.rs`).

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use edge_api::mtls::TrustRoots;
use edge_api::trust::{self, Bundle};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, UnixTime};

/// The folder of the kept bundle, in the data folder.
pub(crate) const DIR: &str = "trust";
/// Bounds of the wait between two looks, whatever the hint says.
const SHORTEST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(86_400);

/// The bundle kept in `DATA/trust/`.
pub(crate) struct Kept {
    pub(crate) bundle: Bundle,
    pub(crate) bytes: Vec<u8>,
    pub(crate) etag: String,
}

impl Kept {
    /// The kept bundle, if there is a readable one.
    pub(crate) fn read(data: &Path) -> Option<Self> {
        let dir = data.join(DIR);
        let mut bytes = Vec::new();
        std::fs::File::open(dir.join("bundle.json"))
            .ok()?
            .take(trust::MAX_BUNDLE as u64 + 1)
            .read_to_end(&mut bytes)
            .ok()?;
        let bundle = trust::parse_bundle(&bytes).ok()?;
        let etag = std::fs::read_to_string(dir.join("etag")).unwrap_or_default();
        Some(Self {
            bundle,
            bytes,
            etag,
        })
    }

    /// The kept bundle, when it can vouch for `own` (else it is another
    /// trust domain's, left from an earlier identity, and ignored).
    pub(crate) fn read_for(data: &Path, own: &CertificateDer<'_>) -> Option<Self> {
        Self::read(data).filter(|k| issued_by_one_of(own, &k.bundle).is_ok())
    }

    /// Keep `bytes` (with `etag`) as the bundle.
    pub(crate) fn write(data: &Path, bytes: &[u8], etag: &str) -> anyhow::Result<()> {
        let dir = data.join(DIR);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        atomic_write(&dir.join("bundle.json"), bytes)?;
        atomic_write(&dir.join("etag"), etag.as_bytes())
    }
}

fn atomic_write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write `{}`", path.display()))
}

/// Refuse a bundle none of whose anchors issued `own`: with it the holder
/// could neither trust its peers nor be trusted.
pub(crate) fn issued_by_one_of(own: &CertificateDer<'_>, bundle: &Bundle) -> anyhow::Result<()> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(store_of(bundle)),
        Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
    )
    .build()
    .context("the bundle's anchors cannot verify certificates")?;
    verifier
        .verify_client_cert(own, &[], UnixTime::now())
        .map_err(|e| {
            anyhow::anyhow!(
                "the trust bundle does not hold the CA that issued this identity ({e}): it is another trust domain's, or this identity is no longer trusted"
            )
        })?;
    Ok(())
}

/// The anchors of `bundle` as a root store (unusable ones left out; the
/// bundle reader checked each already).
pub(crate) fn store_of(bundle: &Bundle) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for a in &bundle.anchors {
        let _ = roots.add(a.clone());
    }
    roots
}

/// Take `bytes` as the new bundle if it may replace `kept`: it parses, it
/// vouches for `own`, and its sequence is not lower.
pub(crate) fn judge(
    bytes: &[u8],
    own: &CertificateDer<'_>,
    kept: Option<&Kept>,
) -> anyhow::Result<Bundle> {
    let bundle = trust::parse_bundle(bytes).map_err(|e| anyhow::anyhow!("the bundle {e}"))?;
    issued_by_one_of(own, &bundle)?;
    if let Some(k) = kept
        && let (Some(was), Some(now)) = (k.bundle.sequence, bundle.sequence)
        && now < was
    {
        anyhow::bail!(
            "its spiffe_sequence {now} is lower than the {was} kept: refused as a rollback"
        );
    }
    Ok(bundle)
}

/// What a refresh found.
pub(crate) enum Found {
    /// Nothing new (`304`, or the same bytes).
    Same,
    /// A new bundle, kept and in force.
    New(Kept),
}

/// One look at `url` with `client`; a new bundle is kept and its anchors
/// put in force in `roots`.
pub(crate) fn look(
    client: &reqwest::blocking::Client,
    url: &str,
    data: &Path,
    own: &CertificateDer<'_>,
    roots: &TrustRoots,
) -> anyhow::Result<Found> {
    let kept = Kept::read_for(data, own);
    let mut req = client.get(url);
    if let Some(k) = kept.as_ref().filter(|k| !k.etag.is_empty()) {
        req = req.header("if-none-match", &k.etag);
    }
    let resp = req.send().with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_MODIFIED && kept.is_some() {
        return Ok(Found::Same);
    }
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut bytes = Vec::new();
    resp.take(trust::MAX_BUNDLE as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the answer of {url}"))?;
    if kept.as_ref().is_some_and(|k| k.bytes == bytes) {
        return Ok(Found::Same);
    }
    let bundle = judge(&bytes, own, kept.as_ref())
        .with_context(|| format!("the trust bundle from {url} is not taken"))?;
    Kept::write(data, &bytes, &etag)?;
    roots.replace(store_of(&bundle));
    tracing::info!(
        url,
        anchors = bundle.anchors.len(),
        sequence = bundle.sequence,
        "trust bundle updated"
    );
    Ok(Found::New(Kept {
        bundle,
        bytes,
        etag,
    }))
}

/// Look at `url` now and then every refresh hint until a stop is asked
/// for; `taken` hears of each new bundle after it is in force.
pub(crate) fn keep_current(
    client: &reqwest::blocking::Client,
    url: &str,
    data: &Path,
    own: &CertificateDer<'_>,
    roots: &TrustRoots,
    taken: &dyn Fn(&Kept),
) {
    let mut failing = false;
    loop {
        match look(client, url, data, own, roots) {
            Ok(found) => {
                if failing {
                    tracing::info!(url, "the trust bundle can be read again");
                }
                failing = false;
                if let Found::New(k) = found {
                    taken(&k);
                }
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(
                    url,
                    error = format!("{e:#}"),
                    "cannot refresh the trust bundle; the one in force stays"
                );
            }
            Err(_) => {}
        }
        let hint = Kept::read(data)
            .and_then(|k| k.bundle.refresh_hint)
            .unwrap_or(trust::REFRESH_HINT);
        let until = Instant::now() + Duration::from_secs(hint).clamp(SHORTEST, LONGEST);
        while Instant::now() < until {
            if crate::stop::is_requested() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200).min(until - Instant::now()));
        }
    }
}
