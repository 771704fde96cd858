//! What a driver must remember of a workload across daemon restarts, kept by
//! the daemon (the edge node keeps it in `en.db`), never in a file the
//! workload could write: the process it started — pid, the start time the
//! kernel gives it (`/proc/<pid>/stat` field 22) and the boot it started in
//! — and the account given to it.
//!
//! A recorded process is signalled only while it is still that process:
//! same boot, same start time, still leading its own process group. No
//! signal ever goes to a pid of 1 or less (`kill(-1)` reaches every
//! process). Accounts given per workload come from a reserved range and
//! skip every id the host's account and group files use.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use rustix::process::{Pid, Signal, kill_process_group};

/// A process, as the kernel identifies it beyond reuse of its pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// Its pid (and process group).
    pub pid: u32,
    /// `starttime`, clock ticks after boot.
    pub start: u64,
    /// `/proc/sys/kernel/random/boot_id` when it started.
    pub boot: String,
}

/// Where a driver keeps what it must remember (see the module).
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// The process recorded for workload `key`.
    fn process(&self, key: &str) -> Option<Leftover>;
    /// Record the process of `key`, or forget it (`None`).
    fn set_process(&self, key: &str, p: Option<&Leftover>);
    /// Every account given, by workload key.
    fn accounts(&self) -> BTreeMap<String, u32>;
    /// Give account `uid` to `key`, or take it back (`None`).
    fn set_account(&self, key: &str, uid: Option<u32>);
}

/// A ledger in memory (a daemon restart forgets it): for tests and tools.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    processes: Mutex<BTreeMap<String, Leftover>>,
    accounts: Mutex<BTreeMap<String, u32>>,
}

impl Ledger for MemoryLedger {
    fn process(&self, key: &str) -> Option<Leftover> {
        let p = self
            .processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        p.get(key).cloned()
    }

    fn set_process(&self, key: &str, p: Option<&Leftover>) {
        let mut all = self
            .processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match p {
            Some(p) => all.insert(key.to_owned(), p.clone()),
            None => all.remove(key),
        };
    }

    fn accounts(&self) -> BTreeMap<String, u32> {
        self.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_account(&self, key: &str, uid: Option<u32>) {
        let mut all = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        match uid {
            Some(u) => all.insert(key.to_owned(), u),
            None => all.remove(key),
        };
    }
}

/// This boot's id.
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Process group and start time from the text of `/proc/<pid>/stat` (the
/// command name, in parentheses, may hold anything: fields are counted
/// after its last `)`).
#[must_use]
pub fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (field 3) is index 0, pgrp (5) index 2,
    // starttime (22) index 19.
    Some((fields.get(2)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// CPU time after which a task that never waits counts as at rest (busy
/// by design, not failing on the way up), in clock ticks of 10 ms.
const BUSY_TICKS: u64 = 5;

/// Whether a task has come to rest, from the text of its `stat`: it sleeps
/// waiting for something (state `S`: a timer, a socket, a child), or has
/// used [`BUSY_TICKS`] of CPU. A workload that fails on the way up (a
/// script's `exit 3`, a module out of fuel) does neither first. Unlike wall
/// time, this does not pass by itself on a machine too busy to run it.
#[must_use]
pub fn resting_from_stat(stat: &str) -> Option<bool> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (field 3) is index 0, utime (14) index 11,
    // stime (15) index 12.
    let state = fields.first()?;
    let cpu: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(*state == "S" || cpu >= BUSY_TICKS)
}

/// [`resting_from_stat`] of the task at `proc_dir` (`/proc/<pid>` or
/// `/proc/self/task/<tid>`); `None` when it cannot be read (it is gone).
#[must_use]
pub fn resting(proc_dir: &std::path::Path) -> Option<bool> {
    resting_from_stat(&std::fs::read_to_string(proc_dir.join("stat")).ok()?)
}

/// What identifies process `pid` now (`None` when there is none).
#[must_use]
pub fn identify(pid: u32) -> Option<Leftover> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, start) = parse_stat(&stat)?;
    Some(Leftover {
        pid,
        start,
        boot: boot_id(),
    })
}

/// Signal the process group led by `pid`; never for a pid of 1 or less.
/// Returns whether the signal was sent.
pub fn signal_group(pid: u32, sig: Signal) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .filter(|p| *p > 1)
        .and_then(Pid::from_raw)
    else {
        return false;
    };
    kill_process_group(pid, sig).is_ok()
}

/// Whether `p` still is the process that was recorded, leading its group.
#[must_use]
pub fn still_running(p: &Leftover) -> bool {
    if p.pid <= 1 || p.boot.is_empty() || p.boot != boot_id() {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", p.pid)) else {
        return false;
    };
    parse_stat(&stat).is_some_and(|(pgrp, start)| pgrp == p.pid && start == p.start)
}

/// End the process group recorded for `key` when its leader is still that
/// process (SIGKILL), and forget it. Returns whether one was ended.
pub fn end_recorded(ledger: &dyn Ledger, key: &str) -> bool {
    let Some(p) = ledger.process(key) else {
        return false;
    };
    let ended = still_running(&p) && signal_group(p.pid, Signal::KILL);
    ledger.set_process(key, None);
    ended
}

/// The ids a host's `passwd` or `group` text uses (third field).
#[must_use]
pub fn ids_in(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| l.split(':').nth(2)?.parse().ok())
        .collect()
}

/// First id of the range workloads get their own account from: after
/// systemd's `systemd-homed` and `nspawn --bind-user` ids, before its
/// dynamic users (61184–65519).
pub const ACCOUNT_FIRST: u32 = 60_600;
/// How many ids the range holds.
pub const ACCOUNT_COUNT: u32 = 500;

/// The account of workload `key`: the one it was given, else the lowest id
/// of the range no other workload has and the host does not use (`used`).
/// `None` when the range is full.
#[must_use]
pub fn pick_account(given: &BTreeMap<String, u32>, key: &str, used: &[u32]) -> Option<u32> {
    if let Some(u) = given.get(key) {
        return Some(*u);
    }
    (ACCOUNT_FIRST..ACCOUNT_FIRST + ACCOUNT_COUNT)
        .find(|u| !used.contains(u) && !given.values().any(|g| g == u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_rests_when_it_sleeps_or_has_worked_a_while() {
        let line = |state: &str, utime: u64| {
            format!("42 (odd ) name) {state} 1 42 42 0 -1 0 0 0 0 0 {utime} 0 0 0 20 0 1 0 99")
        };
        assert_eq!(resting_from_stat(&line("S", 0)), Some(true));
        assert_eq!(resting_from_stat(&line("R", 0)), Some(false));
        assert_eq!(resting_from_stat(&line("R", 5)), Some(true));
        assert_eq!(resting_from_stat(&line("Z", 0)), Some(false));
        assert_eq!(resting_from_stat("garbage"), None);
        // This test's own thread runs: it is not asleep.
        let me = std::path::Path::new("/proc/thread-self");
        assert!(resting(me).is_some());
    }

    #[test]
    fn stat_lines_read_past_any_command_name() {
        let line = "4242 (a) b) (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        assert_eq!(parse_stat(line), Some((4242, 987_654)));
        assert_eq!(parse_stat("12 (x) S 1"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn this_process_is_identified_and_forged_records_are_not_believed() {
        let me = identify(std::process::id()).unwrap();
        assert!(!me.boot.is_empty() && me.start > 0, "{me:?}");
        let init = Leftover {
            pid: 1,
            ..me.clone()
        };
        assert!(!still_running(&init), "pid 1 never");
        let older = Leftover {
            start: me.start.saturating_sub(1),
            ..me.clone()
        };
        assert!(!still_running(&older), "another start time: reused pid");
        let other_boot = Leftover {
            boot: "another".into(),
            ..me
        };
        assert!(!still_running(&other_boot));
        assert!(!signal_group(0, Signal::CONT));
        assert!(!signal_group(1, Signal::CONT));
        assert!(!signal_group(u32::MAX, Signal::CONT), "no negative pid");
    }

    #[test]
    fn accounts_are_per_workload_and_skip_ids_the_host_uses() {
        let passwd = "root:x:0:0::/root:/bin/sh\nsvc:x:60600:60600::/:/bin/false\n";
        let used = ids_in(passwd);
        let mut given = BTreeMap::new();
        let a = pick_account(&given, "d/a", &used).unwrap();
        assert_eq!(a, ACCOUNT_FIRST + 1, "the host's 60600 is skipped");
        given.insert("d/a".to_owned(), a);
        assert_eq!(pick_account(&given, "d/a", &used), Some(a), "kept");
        let b = pick_account(&given, "d/b", &used).unwrap();
        assert_ne!(a, b);
        let full: BTreeMap<String, u32> = (ACCOUNT_FIRST..ACCOUNT_FIRST + ACCOUNT_COUNT)
            .map(|u| (u.to_string(), u))
            .collect();
        assert_eq!(pick_account(&full, "new", &[]), None);
    }
}
