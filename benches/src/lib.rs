//! Shared fixtures for the criterion benchmarks (see `benches/benches/`).
