//! Attacks from a workload on the node daemon: symlinked control files, forged
//! pid files, running as root by default, leaking the daemon's environment.
