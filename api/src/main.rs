//! The `mpi` binary: parse the command line, set up logging, run the command.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: the server and the batch commands allocate many small,
/// short-lived blocks from several threads, where glibc's arenas spent 12% of the CPU of a
/// match request (malloc, free, consolidation). The crate's `override` feature (set in the
/// workspace manifest) also routes C code's `malloc` and `free` to mimalloc, through glibc's
/// documented malloc replacement: the bundled SQLite allocates a block for nearly every value
/// it handles, and glibc's malloc was 15% of the CPU of an SQLite import.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = api::cli::Cli::parse();
    // Held to the end of `main`, so the log lines still buffered are written before exit.
    let _log_writer = match api::telemetry::init(&cli.telemetry) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("mpi: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mpi: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(api::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mpi: {error:#}");
            ExitCode::from(api::exit_code::of(&error))
        }
    }
}
