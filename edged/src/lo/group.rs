//! Group commit of reports: a report is answered 2xx only once it is in
//! `lo.db` and synced (power loss keeps it), and a sync is the slow part.
//! Reports that arrive while one batch is being written wait, and the next
//! writer writes them all in one transaction: one sync for many reports.
//! No thread of its own: the first caller to find no writer at work becomes
//! the writer for everything queued, then hands each caller its result.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::error::ApiError;

/// One report to write.
pub(crate) struct Report {
    pub(crate) kind: String,
    pub(crate) subject: String,
    pub(crate) device: String,
    pub(crate) body: String,
    pub(crate) digest: Option<String>,
}

/// Each report's result: whether it was the first of its subject.
pub(crate) type Outcome = Result<bool, ApiError>;

#[derive(Default)]
struct State {
    next: u64,
    pending: Vec<(u64, Report)>,
    results: HashMap<u64, Outcome>,
    writing: bool,
}

/// Reports waiting to be written together.
#[derive(Default)]
pub(crate) struct Group {
    state: Mutex<State>,
    written: Condvar,
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Write `report` with whatever else is waiting, by `write` (which gets
    /// the whole batch and returns one outcome per report, in order); its
    /// outcome once written.
    pub(crate) fn submit(
        &self,
        report: Report,
        write: impl Fn(&[Report]) -> Vec<Outcome>,
    ) -> Outcome {
        let mut s = self.lock();
        let ticket = s.next;
        s.next += 1;
        s.pending.push((ticket, report));
        loop {
            if let Some(r) = s.results.remove(&ticket) {
                return r;
            }
            if s.writing {
                s = self.written.wait(s).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Nobody is writing: write everything queued, this one included.
            s.writing = true;
            let batch = std::mem::take(&mut s.pending);
            drop(s);
            let (tickets, reports): (Vec<u64>, Vec<Report>) = batch.into_iter().unzip();
            let mut outcomes = write(&reports);
            outcomes.resize_with(reports.len(), || {
                Err(ApiError::internal(&anyhow::anyhow!(
                    "the report was not written"
                )))
            });
            s = self.lock();
            s.results.extend(tickets.into_iter().zip(outcomes));
            s.writing = false;
            self.written.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn report(n: usize) -> Report {
        Report {
            kind: "status".into(),
            subject: format!("d-{n}"),
            device: "edge-1".into(),
            body: n.to_string(),
            digest: None,
        }
    }

    #[test]
    fn reports_arriving_together_are_written_in_fewer_batches_each_with_its_own_outcome() {
        let group = Arc::new(Group::default());
        let batches = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..64)
            .map(|n| {
                let (group, batches, written) = (group.clone(), batches.clone(), written.clone());
                std::thread::spawn(move || {
                    group.submit(report(n), |reports| {
                        batches.fetch_add(1, Ordering::SeqCst);
                        // A slow sync, so others queue meanwhile.
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        let mut w = written.lock().unwrap();
                        reports
                            .iter()
                            .map(|r| {
                                w.push(r.body.clone());
                                // Odd reports fail alone (an outbox that is full).
                                let k: usize = r.body.parse().unwrap();
                                if k % 2 == 1 {
                                    Err(ApiError::unavailable("full", 1))
                                } else {
                                    Ok(k == 0)
                                }
                            })
                            .collect()
                    })
                })
            })
            .collect();
        let outcomes: Vec<Outcome> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for (n, o) in outcomes.iter().enumerate() {
            match o {
                Ok(first) => assert!(n % 2 == 0 && *first == (n == 0), "{n}"),
                Err(e) => assert!(n % 2 == 1, "{n}: {}", e.detail()),
            }
        }
        assert_eq!(
            written.lock().unwrap().len(),
            64,
            "each report written once"
        );
        let b = batches.load(Ordering::SeqCst);
        assert!(b < 64, "{b} batches for 64 reports: none were grouped");
    }
}
