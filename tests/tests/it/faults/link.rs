//! An LO cut from the CO by a loopback proxy (the LO's CO address points at
//! it) that first loses the CO's answers (a batch arrives, its
//! acknowledgement does not), then drops every connection, then stalls them
//! (accepted, not a byte forwarded), then heals; scaled down to seconds
//! (`bench outage --minutes N` runs the same scenario for minutes). Devices
//! go on reporting status changes to the LO all along, and the CO takes a
//! deploy meanwhile; the scenario is `edge_tests::outage`.
//!
//! Nothing lost: every status report the LO answered 2xx reaches the CO
//! exactly once, and in the order the device made it, per deployment (seen
//! on the CO's event stream, one `status` event per stored report); the
//! CO's last state is the last one sent; the LO's outbox ends empty; and
//! the deploy made during the outage reaches its device once the link is
//! back.

use edge_tests::fleet::fleet;
use edge_tests::outage::{Plan, run};

#[test]
fn an_lo_cut_off_by_a_failing_link_delivers_every_status_once_in_order() {
    let f = fleet();
    let seen = run(&f, Plan::quick());
    // The faults really happened: the LO lost an answer, was refused and
    // held, and the devices reported meanwhile.
    assert!(
        seen.lost > 0 && seen.dropped >= 4 && seen.held >= 2 && seen.during_outage > 4,
        "{seen:?}"
    );
}
