//! `bench outage [--minutes N]`: the scenario of `faults::link`
//! (`edge_tests::outage`: an LO cut from the CO by a proxy that loses the
//! CO's answers, then drops, then stalls, then heals) with an outage of N
//! minutes (10 by default), half dropping and half stalling, devices
//! reporting every second. It checks what the test checks (every report
//! at the CO once, in order) and prints what it saw. It runs the debug
//! binaries the tests use: it measures whether anything is lost, not speed.

use std::time::{Duration, Instant};

use edge_tests::fleet::fleet;
use edge_tests::outage::{Plan, run as outage};

/// Run it with `args` (after the group name).
pub(crate) fn run(args: &[String]) {
    let mut minutes = 10_u64;
    let mut it = args.iter().filter(|a| *a != "--");
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minutes" => {
                minutes = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|m| *m > 0)
                    .unwrap_or_else(|| panic!("--minutes takes a number of minutes above 0"));
            }
            other => panic!("unknown option `{other}`; usage: bench outage [--minutes N]"),
        }
    }
    let half = Duration::from_secs(minutes * 30);
    println!("outage: {minutes} min (drop {half:?}, then stall {half:?}), a report every second");
    let f = fleet();
    let started = Instant::now();
    let seen = outage(
        &f,
        Plan {
            drop: half,
            stall: half,
            every: Duration::from_secs(1),
        },
    );
    println!(
        "outage: {} reports ({} during the outage), each stored at the CO once and in order; \
         {} connections dropped, {} held, {} B of answers lost; caught up {:.1} s after the heal; \
         {:.0} s in all",
        seen.reports,
        seen.during_outage,
        seen.dropped,
        seen.held,
        seen.lost,
        seen.caught_up.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
