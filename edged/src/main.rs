//! The `edged` executable: a doorway to [`edged::run`].

// The orchestrators allocate with mimalloc: under a sustained status intake
// glibc's per-thread arenas kept gigabytes the CO had freed (BENCHMARKS.md,
// "A fleet of simulated nodes"). A node-only build keeps the system's.
#[cfg(any(feature = "co", feature = "lo"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    edged::run(std::env::args_os())
}
