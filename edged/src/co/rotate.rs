//! Rotation of the CO's CA, in three steps an operator takes with time
//! between them (`edgectl co ca stage|activate|retire`):
//!
//! 1. *stage*: a new CA generation is made and added to the trust bundle,
//!    but signs nothing yet. LOs and nodes take the new bundle within its
//!    refresh hint, so they trust the new CA before anything it signs
//!    reaches them.
//! 2. *activate*: the staged CA signs from now on (identities, the CO's own
//!    certificates at its next start, sticks); the former one is retired,
//!    kept in the bundle, so every identity it issued keeps working until it
//!    expires. Refused within one refresh hint of staging unless forced.
//! 3. *retire*: retired CAs leave the bundle once no unrevoked identity
//!    issued while they signed is still valid (forced: at once).
//!
//! On disk, in `DATA/ca/`: `gen/<n>.crt` and `gen/<n>.key` (0600; a retired
//! generation's key is removed), `state.json` (which generation is active,
//! staged, retired, and the bundle's sequence), written whole and renamed,
//! so each step is one atomic change; `ca.crt` is the bundle's PEM, made from
//! the state after each step and again at every start. A CA made before
//! rotation existed (`ca.crt` + `ca.key`) is generation 1 and moves into
//! this layout at its first step.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use rcgen::KeyPair;
use serde::{Deserialize, Serialize};

use super::ca::{Ca, Generation, Retired, ca_params};

/// `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct State {
    sequence: u64,
    active: u32,
    active_since: i64,
    next: Option<u32>,
    staged_at: Option<i64>,
    retired: Vec<RetiredState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RetiredState {
    generation: u32,
    retired_at: i64,
}

/// A rotation step that cannot be taken now, said to the operator.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RotateError {
    /// The step does not follow from the state (nothing staged, staged twice).
    #[error("{0}")]
    Conflict(String),
    /// Writing the new state failed.
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Open a CA kept in the rotation layout; `None` when there is none yet.
pub(crate) fn open(dir: &Path, trust_domain: &str) -> anyhow::Result<Option<Ca>> {
    let path = dir.join("state.json");
    let Ok(text) = fs::read_to_string(&path) else {
        return Ok(None);
    };
    let state: State = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not a CA state", path.display()))?;
    // A first step that stopped after its state was written may have left
    // the key of the layout before rotation (now `gen/1.key`) behind.
    let _ = fs::remove_file(dir.join("ca.key"));
    let cert = |n: u32| -> anyhow::Result<String> {
        let p = dir.join(format!("gen/{n}.crt"));
        fs::read_to_string(&p).with_context(|| format!("cannot read `{}`", p.display()))
    };
    let generation = |n: u32, since: i64| -> anyhow::Result<Generation> {
        let p = dir.join(format!("gen/{n}.key"));
        let key_pem =
            fs::read_to_string(&p).with_context(|| format!("cannot read `{}`", p.display()))?;
        let key = KeyPair::from_pem(&key_pem)
            .with_context(|| format!("`{}` is not a usable key", p.display()))?;
        Ok(Generation {
            number: n,
            cert_pem: cert(n)?,
            key,
            since,
        })
    };
    let active = generation(state.active, state.active_since)?;
    let next = match state.next {
        Some(n) => Some(generation(n, state.staged_at.unwrap_or(0))?),
        None => None,
    };
    let mut retired = Vec::new();
    for r in &state.retired {
        retired.push(Retired {
            number: r.generation,
            cert_pem: cert(r.generation)?,
            retired_at: r.retired_at,
        });
        // A step that stopped after its state was written may have left
        // the retired key behind.
        let _ = fs::remove_file(dir.join(format!("gen/{}.key", r.generation)));
    }
    let ca = Ca::assemble(trust_domain, dir, active, next, retired, state.sequence);
    write_bundle(&ca)?;
    Ok(Some(ca))
}

fn state_of(ca: &Ca) -> State {
    State {
        sequence: ca.sequence,
        active: ca.active.number,
        active_since: ca.active.since,
        next: ca.next.as_ref().map(|g| g.number),
        staged_at: ca.next.as_ref().map(|g| g.since),
        retired: ca
            .retired
            .iter()
            .map(|r| RetiredState {
                generation: r.number,
                retired_at: r.retired_at,
            })
            .collect(),
    }
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot write `{}`", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write `{}`", path.display()))
}

fn write_bundle(ca: &Ca) -> anyhow::Result<()> {
    write_file(&ca.dir.join("ca.crt"), ca.cert_pem().as_bytes(), 0o644)
}

/// Write a generation's files (new ones only; existing ones are kept).
fn write_generation(dir: &Path, g: &Generation) -> anyhow::Result<()> {
    let gen_dir = dir.join("gen");
    fs::create_dir_all(&gen_dir)
        .with_context(|| format!("cannot create `{}`", gen_dir.display()))?;
    let crt = gen_dir.join(format!("{}.crt", g.number));
    if !crt.exists() {
        write_file(&crt, g.cert_pem.as_bytes(), 0o644)?;
    }
    let key = gen_dir.join(format!("{}.key", g.number));
    if !key.exists() {
        write_file(&key, g.key.serialize_pem().as_bytes(), 0o600)?;
    }
    Ok(())
}

/// Persist `ca` as the new state: its generations' files, then the state
/// (the one atomic change), then the bundle PEM.
fn persist(ca: &Ca) -> anyhow::Result<()> {
    write_generation(&ca.dir, &ca.active)?;
    if let Some(n) = &ca.next {
        write_generation(&ca.dir, n)?;
    }
    for r in &ca.retired {
        let crt = ca.dir.join(format!("gen/{}.crt", r.number));
        if !crt.exists() {
            write_file(&crt, r.cert_pem.as_bytes(), 0o644)?;
        }
    }
    let state = serde_json::to_vec_pretty(&state_of(ca)).context("cannot encode the CA state")?;
    write_file(&ca.dir.join("state.json"), &state, 0o600)?;
    for r in &ca.retired {
        let _ = fs::remove_file(ca.dir.join(format!("gen/{}.key", r.number)));
    }
    // The key of the layout before rotation, now in gen/1.key.
    let _ = fs::remove_file(ca.dir.join("ca.key"));
    write_bundle(ca)
}

fn copy_key(key: &KeyPair) -> anyhow::Result<KeyPair> {
    KeyPair::from_pem(&key.serialize_pem()).context("cannot copy a CA key")
}

fn copy_generation(g: &Generation) -> anyhow::Result<Generation> {
    Ok(Generation {
        number: g.number,
        cert_pem: g.cert_pem.clone(),
        key: copy_key(&g.key)?,
        since: g.since,
    })
}

/// Step 1: a new generation, in the bundle, not signing.
pub(crate) fn stage(ca: &Ca) -> Result<Ca, RotateError> {
    if let Some(n) = &ca.next {
        return Err(RotateError::Conflict(format!(
            "generation {} is staged already; activate it first (`edgectl co ca activate`)",
            n.number
        )));
    }
    let number = ca
        .retired
        .iter()
        .map(|r| r.number)
        .chain([ca.active.number])
        .max()
        .unwrap_or(1)
        + 1;
    let key = KeyPair::generate().context("cannot generate the CA key")?;
    let cert = ca_params(&ca.trust_domain, number)
        .self_signed(&key)
        .context("cannot create the CA certificate")?;
    let next = Generation {
        number,
        cert_pem: cert.pem(),
        key,
        since: now(),
    };
    let new = Ca::assemble(
        &ca.trust_domain,
        &ca.dir,
        copy_generation(&ca.active)?,
        Some(next),
        ca.retired.clone(),
        ca.sequence + 1,
    );
    persist(&new)?;
    Ok(new)
}

/// Step 2: the staged generation signs; the former one is retired.
/// Refused within `hint` seconds of staging unless `force`.
pub(crate) fn activate(ca: &Ca, hint: u64, force: bool) -> Result<Ca, RotateError> {
    let Some(next) = &ca.next else {
        return Err(RotateError::Conflict(
            "no CA is staged; stage one first (`edgectl co ca stage`)".into(),
        ));
    };
    let ready_at = next
        .since
        .saturating_add(i64::try_from(hint).unwrap_or(i64::MAX));
    if !force && now() < ready_at {
        return Err(RotateError::Conflict(format!(
            "generation {} was staged {} s ago; LOs and nodes take a new trust bundle within {hint} s, so it may sign from {}; `--force` activates it now (devices that have not taken the bundle yet then refuse what it signs)",
            next.number,
            now() - next.since,
            crate::clock::format_unix(ready_at)
        )));
    }
    let mut retired = vec![Retired {
        number: ca.active.number,
        cert_pem: ca.active.cert_pem.clone(),
        retired_at: now(),
    }];
    retired.extend(ca.retired.iter().cloned());
    let mut active = copy_generation(next)?;
    active.since = now();
    let new = Ca::assemble(
        &ca.trust_domain,
        &ca.dir,
        active,
        None,
        retired,
        ca.sequence + 1,
    );
    persist(&new)?;
    Ok(new)
}

/// Step 3: drop the retired generations `still_needed` does not keep
/// (it counts the valid identities issued before a time); all with `force`.
/// Returns the new CA and the generations dropped.
pub(crate) fn retire(
    ca: &Ca,
    force: bool,
    still_needed: impl Fn(i64) -> anyhow::Result<u64>,
) -> Result<(Ca, Vec<u32>), RotateError> {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut waiting = Vec::new();
    for r in &ca.retired {
        let n = if force {
            0
        } else {
            still_needed(r.retired_at)?
        };
        if n == 0 {
            dropped.push(r.number);
        } else {
            waiting.push(format!("generation {} ({n} valid)", r.number));
            kept.push(r.clone());
        }
    }
    if dropped.is_empty() {
        return Err(RotateError::Conflict(if waiting.is_empty() {
            "no CA is retired; nothing leaves the bundle".into()
        } else {
            format!(
                "identities issued by {} are still valid; they expire or are revoked first, or `--force` drops them now (those identities then stop working)",
                waiting.join(", ")
            )
        }));
    }
    let new = Ca::assemble(
        &ca.trust_domain,
        &ca.dir,
        copy_generation(&ca.active)?,
        match &ca.next {
            Some(n) => Some(copy_generation(n)?),
            None => None,
        },
        kept,
        ca.sequence + 1,
    );
    persist(&new)?;
    for n in &dropped {
        let _ = fs::remove_file(ca.dir.join(format!("gen/{n}.crt")));
    }
    Ok((new, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pems(ca: &Ca) -> usize {
        ca.cert_pem().matches("BEGIN CERTIFICATE").count()
    }

    #[test]
    fn a_rotation_stages_activates_and_retires_and_each_step_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("ca");
        let first = Ca::open_or_create(&d, "edge.local").unwrap();
        let before = first
            .issue("spiffe://edge.local/margo/wfm/a", 1, &[], false)
            .unwrap();
        assert_eq!((pems(&first), first.sequence()), (1, 1));

        // Stage: two anchors, the first still signs; a second stage is refused.
        let staged = stage(&first).unwrap();
        assert_eq!(
            (pems(&staged), staged.sequence(), staged.active.number),
            (2, 2, 1)
        );
        assert!(
            !d.join("ca.key").exists(),
            "the old layout's key moved to gen/1.key"
        );
        assert!(matches!(stage(&staged), Err(RotateError::Conflict(_))));
        let reopened = Ca::open_or_create(&d, "edge.local").unwrap();
        assert_eq!(reopened.cert_pem(), staged.cert_pem());
        assert_eq!(
            fs::read_to_string(d.join("ca.crt")).unwrap(),
            staged.cert_pem()
        );

        // Activate: refused within the hint, forced now.
        let early = activate(&reopened, 3600, false);
        assert!(matches!(&early, Err(RotateError::Conflict(m)) if m.contains("--force")));
        let active = activate(&reopened, 3600, true).unwrap();
        assert_eq!(
            (active.active.number, active.retired.len(), pems(&active)),
            (2, 1, 2)
        );
        assert!(!d.join("gen/1.key").exists(), "a retired CA's key is gone");
        let after = active
            .issue("spiffe://edge.local/margo/wfm/a", 1, &[], false)
            .unwrap();
        assert!(after.cert_pem != before.cert_pem);
        assert!(matches!(
            activate(&active, 0, true),
            Err(RotateError::Conflict(_))
        ));
        let reopened = Ca::open_or_create(&d, "edge.local").unwrap();
        assert_eq!((reopened.active.number, reopened.sequence()), (2, 3));

        // Retire: kept while identities need it, dropped when none do.
        let waiting = retire(&reopened, false, |_| Ok(3));
        assert!(
            matches!(&waiting, Err(RotateError::Conflict(m)) if m.contains("generation 1 (3 valid)"))
        );
        let (retired, dropped) = retire(&reopened, false, |_| Ok(0)).unwrap();
        assert_eq!(
            (dropped, pems(&retired), retired.sequence()),
            (vec![1], 1, 4)
        );
        assert!(!d.join("gen/1.crt").exists());
        let reopened = Ca::open_or_create(&d, "edge.local").unwrap();
        assert_eq!(reopened.cert_pem(), retired.cert_pem());
        assert!(matches!(
            retire(&reopened, true, |_| Ok(0)),
            Err(RotateError::Conflict(_))
        ));
    }
}
