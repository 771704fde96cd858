//! The waiting room of remote operations (`edgectl co logs`, `co restart`),
//! in memory, one at the CO and one at each LO. An operation is queued for
//! a *scope* — at the CO the site whose LO must carry it, at an LO the device
//! that must do it — and taken by whoever long-polls for that scope; it is
//! answered by the same scope only, by its unguessable id. Everything is
//! bounded: operations queued per scope and in all, a deadline on each
//! (an operation past it is forgotten; its waiter has given up), and at most
//! [`MAX_BATCH`] handed out at once.
//!
//! The board also notes who polls: a scope with a poll open, or one that
//! ended less than [`GRACE`] ago, is *connected*; an operation for a scope
//! that is not is refused at once instead of waiting for nobody.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edge_api::remote::{MAX_BATCH, OpRequest, OpResult};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// How long after its last poll ended a scope still counts as connected
/// (a node doing a restart does not poll meanwhile).
pub(crate) const GRACE: Duration = Duration::from_secs(30);

/// Why an operation was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Too many wait for this scope, or in all.
    Full,
}

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Queued, not taken by a poll yet.
    Queued,
    /// Taken, not answered yet.
    Taken,
    /// Answered, or forgotten.
    Gone,
}

struct Entry {
    scope: String,
    op: OpRequest,
    queued: Instant,
    deadline: Instant,
    taken: bool,
    reply: Option<oneshot::Sender<OpResult>>,
}

#[derive(Default)]
struct Polls {
    open: usize,
    last: Option<Instant>,
}

#[derive(Default)]
struct Inner {
    /// By id, in no order; `order` keeps the queue order.
    entries: HashMap<String, Entry>,
    order: VecDeque<String>,
    polls: HashMap<String, Polls>,
}

impl Inner {
    fn purge(&mut self, now: Instant) {
        self.entries.retain(|_, e| e.deadline > now);
        let entries = &self.entries;
        self.order
            .retain(|id| entries.get(id).is_some_and(|e| !e.taken));
    }
}

/// The waiting room.
pub(crate) struct Board {
    inner: Mutex<Inner>,
    bell: watch::Sender<u64>,
    per_scope: usize,
    total: usize,
}

/// Counts a poll open while it lives (a poll whose connection goes away is
/// dropped, and stops counting).
struct Open<'a> {
    board: &'a Board,
    scope: String,
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        let mut inner = self.board.lock();
        let p = inner.polls.entry(self.scope.clone()).or_default();
        p.open = p.open.saturating_sub(1);
        p.last = Some(Instant::now());
    }
}

impl Board {
    /// A board holding at most `per_scope` operations per scope and
    /// `total` in all.
    pub(crate) fn new(per_scope: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner::default()),
            bell: watch::Sender::new(0),
            per_scope,
            total,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queue `op` for `scope` until `deadline`; with `reply`, the answer
    /// comes on the receiver returned.
    pub(crate) fn queue(
        &self,
        scope: &str,
        op: OpRequest,
        deadline: Instant,
        reply: bool,
    ) -> Result<Option<oneshot::Receiver<OpResult>>, Refused> {
        let mut inner = self.lock();
        inner.purge(Instant::now());
        let mine = inner.entries.values().filter(|e| e.scope == scope).count();
        if mine >= self.per_scope || inner.entries.len() >= self.total {
            return Err(Refused::Full);
        }
        let (tx, rx) = if reply {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let id = op.id.clone();
        inner.order.push_back(id.clone());
        inner.entries.insert(
            id,
            Entry {
                scope: scope.to_owned(),
                op,
                queued: Instant::now(),
                deadline,
                taken: false,
                reply: tx,
            },
        );
        drop(inner);
        self.bell.send_modify(|n| *n = n.wrapping_add(1));
        Ok(rx)
    }

    /// Take what waits for `scope` now (at most [`MAX_BATCH`]).
    fn take_now(&self, scope: &str) -> Vec<OpRequest> {
        let mut inner = self.lock();
        inner.purge(Instant::now());
        let ids: Vec<String> = inner
            .order
            .iter()
            .filter(|id| inner.entries.get(*id).is_some_and(|e| e.scope == scope))
            .take(MAX_BATCH)
            .cloned()
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            if let Some(e) = inner.entries.get_mut(id) {
                e.taken = true;
                out.push(e.op.clone());
            }
        }
        inner.order.retain(|id| !ids.contains(id));
        out
    }

    /// What waits for `scope`, at once when something does, else as soon as
    /// something comes, or nothing after `wait` (or when a stop is asked
    /// for).
    pub(crate) async fn take(&self, scope: &str, wait: Duration) -> Vec<OpRequest> {
        let _open = {
            let mut inner = self.lock();
            let p = inner.polls.entry(scope.to_owned()).or_default();
            p.open += 1;
            p.last = Some(Instant::now());
            Open {
                board: self,
                scope: scope.to_owned(),
            }
        };
        let deadline = Instant::now() + wait;
        let mut rung = self.bell.subscribe();
        loop {
            rung.borrow_and_update();
            let found = self.take_now(scope);
            if !found.is_empty() {
                return found;
            }
            let woke = tokio::select! {
                r = tokio::time::timeout_at(deadline, rung.changed()) => matches!(r, Ok(Ok(()))),
                () = crate::stop::requested() => false,
            };
            if !woke {
                return Vec::new();
            }
        }
    }

    /// Hand the result of operation `id` to its waiter, when `scope` is the
    /// one it was taken by; `false` when no such operation was taken by it
    /// (unknown, answered, expired, or another scope's: the caller cannot
    /// tell which).
    pub(crate) fn answer(&self, scope: &str, id: &str, result: OpResult) -> bool {
        let mut inner = self.lock();
        inner.purge(Instant::now());
        let mine = inner
            .entries
            .get(id)
            .is_some_and(|e| e.scope == scope && e.taken);
        if !mine {
            return false;
        }
        if let Some(e) = inner.entries.remove(id)
            && let Some(tx) = e.reply
        {
            let _ = tx.send(result);
        }
        true
    }

    /// The operation `id` as it was queued, when `scope` took it and has
    /// not answered yet.
    pub(crate) fn taken(&self, scope: &str, id: &str) -> Option<OpRequest> {
        let mut inner = self.lock();
        inner.purge(Instant::now());
        inner
            .entries
            .get(id)
            .filter(|e| e.scope == scope && e.taken)
            .map(|e| e.op.clone())
    }

    /// Where operation `id` is; it is forgotten (its waiter gave up).
    pub(crate) fn withdraw(&self, id: &str) -> Stage {
        let mut inner = self.lock();
        inner.purge(Instant::now());
        inner.order.retain(|i| i != id);
        match inner.entries.remove(id) {
            Some(e) if e.taken => Stage::Taken,
            Some(_) => Stage::Queued,
            None => Stage::Gone,
        }
    }

    /// Where operation `id` is, leaving it there.
    pub(crate) fn stage(&self, id: &str) -> Stage {
        let inner = self.lock();
        match inner.entries.get(id) {
            Some(e) if e.taken => Stage::Taken,
            Some(_) => Stage::Queued,
            None => Stage::Gone,
        }
    }

    /// Take off the board the operations queued longer than `age` that no
    /// poll took: their scope is not there to take them.
    pub(crate) fn untaken_for(&self, age: Duration) -> Vec<OpRequest> {
        let mut inner = self.lock();
        inner.purge(Instant::now());
        let old: Vec<String> = inner
            .entries
            .iter()
            .filter(|(_, e)| !e.taken && e.queued.elapsed() >= age)
            .map(|(id, _)| id.clone())
            .collect();
        inner.order.retain(|id| !old.contains(id));
        old.iter()
            .filter_map(|id| inner.entries.remove(id))
            .map(|e| e.op)
            .collect()
    }

    /// Whether `scope` polls now or did within [`GRACE`].
    pub(crate) fn connected(&self, scope: &str) -> bool {
        let inner = self.lock();
        inner
            .polls
            .get(scope)
            .is_some_and(|p| p.open > 0 || p.last.is_some_and(|l| l.elapsed() < GRACE))
    }
}

/// A new operation id: 122 random bits, hex.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_api::remote::{FailureCode, OpKind};

    fn op(id: &str, device: &str) -> OpRequest {
        OpRequest {
            id: id.to_owned(),
            device: device.to_owned(),
            deployment: "d".to_owned(),
            component: None,
            kind: OpKind::Logs,
            offset: None,
            tail: None,
            since: None,
        }
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(20)
    }

    #[tokio::test]
    async fn only_the_scope_takes_and_answers_its_operations() {
        let board = Board::new(4, 8);
        let rx = board.queue("a", op("1", "a"), later(), true).unwrap();
        board.queue("b", op("2", "b"), later(), true).unwrap();
        let got = board.take("a", Duration::from_millis(10)).await;
        assert_eq!(got, vec![op("1", "a")]);
        assert!(board.take("a", Duration::from_millis(10)).await.is_empty());
        let done = OpResult::failed(FailureCode::Failed, "x");
        // Another scope cannot answer it, nor an operation not taken.
        assert!(!board.answer("b", "1", done.clone()));
        assert!(!board.answer("b", "2", done.clone()));
        assert!(board.answer("a", "1", done.clone()));
        assert!(!board.answer("a", "1", done.clone()));
        assert_eq!(rx.unwrap().await.unwrap(), done);
        assert!(board.connected("a") && !board.connected("c"));
    }

    #[tokio::test]
    async fn a_poll_wakes_when_an_operation_comes() {
        let board = Board::new(4, 8);
        let b = board.clone();
        let poll = tokio::spawn(async move { b.take("a", Duration::from_secs(20)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        board.queue("a", op("1", "a"), later(), false).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), poll)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn the_board_is_bounded_and_forgets_what_expired() {
        let board = Board::new(2, 3);
        board.queue("a", op("1", "a"), later(), false).unwrap();
        board.queue("a", op("2", "a"), later(), false).unwrap();
        assert_eq!(
            board.queue("a", op("3", "a"), later(), false).unwrap_err(),
            Refused::Full
        );
        board.queue("b", op("4", "b"), later(), false).unwrap();
        assert_eq!(
            board.queue("c", op("5", "c"), later(), false).unwrap_err(),
            Refused::Full
        );
        assert_eq!(board.stage("4"), Stage::Queued);
        assert!(board.untaken_for(Duration::from_secs(60)).is_empty());
        assert_eq!(board.untaken_for(Duration::ZERO).len(), 3);
        assert_eq!(board.stage("4"), Stage::Gone);
        board.queue("b", op("4", "b"), later(), false).unwrap();
        assert_eq!(board.withdraw("4"), Stage::Queued);
        assert_eq!(board.withdraw("4"), Stage::Gone);
        board
            .queue("c", op("6", "c"), Instant::now(), false)
            .unwrap();
        // Expired at once: forgotten on the next look.
        board.queue("c", op("7", "c"), later(), false).unwrap();
        assert_eq!(board.withdraw("6"), Stage::Gone);
    }
}
