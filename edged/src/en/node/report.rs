//! Status reports: what changed is decided under the runs lock and queued
//! in memory, in the order decided; `flush`, called once that lock is
//! released, writes the queue to `en.db`'s outbox in the same order (one
//! writer at a time). A report that cannot be written is decided again at
//! the next look.

use std::sync::{Mutex, MutexGuard, PoisonError};

use edge_model::DeploymentId;
use edge_model::status::State;

use super::Node;
use super::run::Run;

/// Reports decided, not yet written.
#[derive(Default)]
pub(super) struct Outbox {
    queued: Mutex<Vec<Decided>>,
    /// Held while writing, so reports reach `en.db` in the order decided.
    writer: Mutex<()>,
}

/// One status report to write.
struct Decided {
    id: String,
    state: State,
    body: Vec<u8>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Node {
    /// Queue a status report of `run` when it differs from the last one;
    /// written by the next [`flush`](Self::flush).
    pub(super) fn report(&self, id: &str, run: &mut Run) {
        let now = run.seen();
        if run.reported.as_ref() == Some(&now) {
            return;
        }
        let Ok(deployment_id) = DeploymentId::new(id) else {
            return;
        };
        let doc = run.status_doc(deployment_id);
        match serde_json::to_vec(&doc) {
            Ok(body) => {
                locked(&self.outbox.queued).push(Decided {
                    id: id.to_owned(),
                    state: doc.status.state,
                    body,
                });
                run.reported = Some(now);
            }
            Err(e) => tracing::error!(id, error = %e, "cannot encode a status report"),
        }
    }

    /// Queue a report of deployment `id` (if still here) and write it.
    pub(super) fn report_now(&self, id: &str) {
        if let Some(run) = self.lock().get_mut(id) {
            self.report(id, run);
        }
        self.flush();
    }

    /// Write the queued reports to the outbox. Never called with the runs
    /// lock held.
    pub(super) fn flush(&self) {
        let _writing = locked(&self.outbox.writer);
        let decided = std::mem::take(&mut *locked(&self.outbox.queued));
        for d in decided {
            match self.db.push("status", &d.id, &d.body) {
                Ok(()) => {
                    tracing::info!(id = d.id, state = %d.state, "status");
                    self.bell.ring();
                }
                Err(e) => {
                    tracing::error!(id = d.id, error = %e, "cannot queue a status report");
                    // Decided again at the next look.
                    self.update(&d.id, |run| run.reported = None);
                }
            }
        }
    }

    /// Look at every settled component and report what changed (a crash,
    /// a restart that brought it back).
    pub(crate) fn observe(&self) {
        {
            let mut runs = self.lock();
            for (id, run) in runs.iter_mut() {
                if !run.settled {
                    continue;
                }
                for c in &mut run.comps {
                    if c.held {
                        c.state = State::Failed;
                        c.error = Some(Run::hold_reason());
                    } else if let Some(r) = &c.running {
                        let o = r.observe();
                        c.state = o.state;
                        c.error = o.error;
                        c.restarts = o.restarts;
                    }
                }
                run.apply_update_error();
                self.report(id, run);
            }
        }
        self.flush();
    }
}
