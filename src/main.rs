//! The `atomic` binary: everything lives in the library; this only hands over the arguments.

fn main() -> std::process::ExitCode {
    atomic::cli::main(std::env::args_os())
}
