//! MPI business logic: register, match, merge, link, review and audit, over SeaORM; no HTTP.
