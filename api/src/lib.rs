//! The MPI HTTP server, configuration and command line.
