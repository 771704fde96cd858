//! The `edgectl` executable: a doorway to [`edgectl::run`].

fn main() -> std::process::ExitCode {
    edgectl::run(std::env::args_os())
}
