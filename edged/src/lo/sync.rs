//! Keeping the LO current: a fetcher that pulls the site repository with gix
//! over HTTPS (presenting the LO's certificate) every poll interval or at once
//! when nudged, and a watcher that long-polls the CO (`GET /lo/v1/watch`) and
//! nudges the fetcher when the site's head moves; it also keeps the lists of
//! revoked and issued device certificates current. Both run on their own threads (gix
//! and the HTTP client are blocking) and back off while the CO is away.
//!
//! A nudge usually carries the Git objects of the change (a few small
//! ones): the fetcher then takes them into the mirror (each checked against
//! its id, the branch moved only from the commit they follow) and rebuilds,
//! with no fetch. Nudges that arrive together are taken in order; when one
//! carries nothing or does not fit, the fetcher fetches with Git instead.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use edge_api::south::{CallError, South};
use edge_workspace::git::{GitError, LooseObject};

use super::store::Lo;
use crate::backoff::Backoff;

/// How long one watch request may wait at the CO.
const WATCH_WAIT_SECS: u64 = 25;

/// What the watcher tells the fetcher: the site's head moved, and maybe
/// the objects to get there from `base`.
#[derive(Debug, Default)]
pub(crate) struct Nudge {
    /// `(base, head, objects)`: the commit the objects follow, the new head.
    carried: Option<(String, String, Vec<LooseObject>)>,
}

/// Take in what the nudges carried, in order; `false` when one carried
/// nothing or could not be taken in (fetch then).
fn take_in(lo: &Lo, nudges: Vec<Nudge>) -> bool {
    if nudges.is_empty() {
        return false;
    }
    for n in nudges {
        let Some((base, head, objects)) = n.carried else {
            return false;
        };
        if lo.mirror.head().ok().flatten().as_deref() == Some(head.as_str()) {
            continue;
        }
        if let Err(e) = lo.mirror.receive_after(objects, &base, &head) {
            tracing::info!(error = %e, "cannot take in the change the nudge carried; fetching it");
            return false;
        }
    }
    true
}

/// Fetch and rebuild until the process ends.
pub(crate) fn fetcher(lo: Arc<Lo>, nudges: Receiver<Nudge>, poll: Duration) {
    let url = edge_api::south::site_git_url(&lo.identity.file.server, &lo.site);
    let tls = match lo.identity.client_config(&lo.identity.wfm_id("co")) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot set up TLS to the CO; serving what the mirror holds");
            return;
        }
    };
    // A first clone of a long history can take a while: minutes, not the
    // client's default 30 s.
    let configure: Arc<edge_workspace::git::ConfigureClient> =
        Arc::new(move |b: reqwest::blocking::ClientBuilder| {
            b.use_preconfigured_tls(tls.clone())
                .timeout(Duration::from_secs(600))
        });
    let mut backoff = Backoff::new(Duration::from_secs(1), poll.min(Duration::from_secs(30)));
    let mut pending = Vec::new();
    loop {
        let started = Instant::now();
        if take_in(&lo, std::mem::take(&mut pending)) {
            tracing::debug!(target: "latency", how = "carried", took = ?started.elapsed(), "mirror moved");
            match lo.rebuild() {
                Ok(true) => {
                    tracing::info!(took = ?started.elapsed(), "took a new desired state from the nudge");
                }
                Ok(false) => {}
                Err(e) => tracing::error!(
                    error = format!("{e:#}"),
                    "cannot build the views of the new desired state"
                ),
            }
            match nudges.recv_timeout(poll) {
                Ok(n) => pending.push(n),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            pending.extend(nudges.try_iter());
            continue;
        }
        let wait = match lo.mirror.fetch(&url, configure.clone()) {
            Ok(f) => {
                if let Some(after) = backoff.succeeded() {
                    tracing::info!(?after, "the site repository is reachable again");
                }
                if f.head != lo.served_head() {
                    tracing::debug!(target: "latency", how = "fetch", took = ?started.elapsed(), "mirror moved");
                }
                match lo.rebuild() {
                    Ok(true) => {
                        tracing::info!(objects = f.objects, took = ?started.elapsed(), "fetched a new desired state");
                    }
                    Ok(false) => {}
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "cannot build the views of the new desired state"
                    ),
                }
                poll
            }
            Err(e) => {
                // A stopping process (the CO of `--mode all` too) says nothing.
                if !backoff.is_down() && !crate::stop::is_requested() {
                    // The CO answers 404 for a site nothing was deployed to yet.
                    if matches!(e, GitError::NotFound { .. }) && lo.served_head().is_none() {
                        tracing::info!(
                            "the site has no desired state yet; waiting for its first deployment"
                        );
                    } else {
                        tracing::warn!(error = %e, "cannot fetch the site repository; serving what the mirror holds");
                    }
                }
                let wait = backoff.failed();
                // A stick may have moved the mirror meanwhile.
                let moved = lo.mirror.head().ok().flatten();
                match if moved.is_some() && moved != lo.served_head() {
                    lo.rebuild()
                } else {
                    Ok(false)
                } {
                    Ok(true) => tracing::info!("serving a desired state taken in from a stick"),
                    Ok(false) => {}
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "cannot build the views of the desired state taken in"
                    ),
                }
                wait
            }
        };
        // Nudges that came during the fetch are kept: the fetch may have
        // started before their commit was made. A burst is taken together.
        pending.extend(nudges.try_iter());
        if pending.is_empty() {
            match nudges.recv_timeout(wait) {
                Ok(n) => pending.push(n),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            pending.extend(nudges.try_iter());
        }
    }
}

/// Ask the CO once, briefly, for the site's revoked and issued device
/// certificates (an LO that never had them accepts no device); the
/// watcher keeps them current afterwards.
pub(crate) fn first_trust(lo: &Lo) {
    let asked = lo
        .identity
        .blocking_client(&lo.identity.wfm_id("co"), Duration::from_secs(5))
        .map_err(|e| e.to_string())
        .and_then(|client| {
            South::new(&lo.identity.file.server, client)
                .watch(None, (0, None), 0, false)
                .map_err(|e| crate::backoff::chain(&e))
        });
    match asked.map(|r| lo.set_trust(&r.revoked, &r.issued)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "cannot store the trust lists"),
        Err(e) => tracing::info!(
            error = e,
            "the CO cannot be reached yet; devices are accepted once the identities it issued arrive (from it, or on a site stick)"
        ),
    }
}

/// Long-poll the CO for changes until the process ends.
pub(crate) fn watcher(lo: Arc<Lo>, nudge: Sender<Nudge>) {
    let client = match lo.identity.blocking_client(
        &lo.identity.wfm_id("co"),
        Duration::from_secs(WATCH_WAIT_SECS + 20),
    ) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot make the client for the CO; polling only");
            return;
        }
    };
    let co = South::new(&lo.identity.file.server, client);
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    // Ask for the change's objects with each nudge (until the CO refuses).
    let mut carry = true;
    // The newest head the CO told of: asking with it (rather than the head
    // being served) keeps the watch waiting while the fetcher catches up.
    let mut have = lo.served_head();
    // The lengths of the CO's lists as last heard (at first, of what the LO
    // holds): asked with them, the CO answers when they change.
    let mut counts = {
        let t = lo.trust();
        (
            t.revoked.len(),
            t.issued.as_ref().map(std::collections::BTreeSet::len),
        )
    };
    loop {
        let mut reply = co.watch(have.as_deref(), counts, WATCH_WAIT_SECS, carry);
        if carry && matches!(reply, Err(CallError::Status { status: 400, .. })) {
            // A CO from before `carry`: its nudges carry nothing; fetch with Git.
            tracing::info!("the CO does not send changes with its nudges; fetching each with Git");
            carry = false;
            reply = co.watch(have.as_deref(), counts, WATCH_WAIT_SECS, carry);
        }
        match reply {
            Ok(r) => {
                if let Some(after) = backoff.succeeded() {
                    tracing::info!(?after, "the CO answers again");
                }
                if (r.revoked.len(), Some(r.issued.len())) != counts {
                    match lo.set_trust(&r.revoked, &r.issued) {
                        Ok(()) => {
                            counts = (r.revoked.len(), Some(r.issued.len()));
                            tracing::info!(
                                revoked = r.revoked.len(),
                                issued = r.issued.len(),
                                "revoked and issued device certificates updated"
                            );
                        }
                        Err(e) => {
                            // The CO answers at once while the counts differ: do not spin.
                            tracing::error!(error = %e, "cannot store the revocations");
                            std::thread::sleep(Duration::from_secs(5));
                        }
                    }
                }
                if r.head != have {
                    tracing::debug!(
                        target: "latency",
                        carried = r.objects.as_ref().map_or(0, Vec::len),
                        "nudged"
                    );
                    let carried = match (have, r.head.clone(), r.objects.as_deref()) {
                        (Some(base), Some(head), Some(objects)) => {
                            crate::south::carried::decode(objects).map(|o| (base, head, o))
                        }
                        _ => None,
                    };
                    if nudge.send(Nudge { carried }).is_err() {
                        return;
                    }
                    have = r.head;
                }
            }
            Err(e) => {
                if !backoff.is_down() && !crate::stop::is_requested() {
                    tracing::warn!(
                        error = %crate::backoff::chain(&e),
                        "cannot reach the CO for change notices; polling every interval meanwhile"
                    );
                }
                std::thread::sleep(backoff.failed());
            }
        }
    }
}
