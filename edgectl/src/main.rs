//! The `edgectl` executable: a doorway to [`edgectl::run`], after answering
//! the shell when it only asks for completions.

fn main() -> std::process::ExitCode {
    edgectl::complete_if_asked();
    edgectl::run(std::env::args_os())
}
