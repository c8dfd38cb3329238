//! The `mpi` command line: serve, migrate and batch commands.

fn main() {}
