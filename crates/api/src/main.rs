//! The `gatehouse` binary: parses the command line and hands over to [`gatehouse_api::cli`].

fn main() -> std::process::ExitCode {
    gatehouse_api::cli::main()
}
