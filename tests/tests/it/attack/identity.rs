//! Attacks on identity: re-enrolment leaving an old certificate usable,
//! certificates that chain to the CA but were never issued by the CO, revoked
//! identities after restarts.
