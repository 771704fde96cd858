//! Attacks on the north API: missing, wrong and revoked tokens, scope
//! escalation, plain HTTP, and the audit log recording every change.
