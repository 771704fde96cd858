//! The `edged` executable: a doorway to [`edged::run`].

fn main() -> std::process::ExitCode {
    edged::run(std::env::args_os())
}
