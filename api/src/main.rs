//! The `mpi` binary: parse the command line, set up logging, run the command.

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the server and the batch commands allocate many small,
/// short-lived blocks from several threads, where glibc's arenas spent 12% of the CPU of a
/// match request (malloc, free, consolidation). The crate's `override` feature (set in the
/// workspace manifest) also routes C code's `malloc` and `free` to mimalloc, through glibc's
/// documented malloc replacement: the bundled SQLite allocates a block for nearly every value
/// it handles, and glibc's malloc was 15% of the CPU of an SQLite import.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    api::cli::main()
}
