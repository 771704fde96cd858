//! The standing attack suite: every attack an adversarial review tried against
//! the running system, the ones that succeeded (each now fixed) and the ones that
//! held, replayed against real daemons on loopback so a regression shows up as a
//! failing test. One file per surface; SECURITY.md maps findings to tests.

mod archive;
mod authz;
mod files;
mod identity;
mod listen;
mod node;
mod north;
mod source;
mod stick;
mod tls;
