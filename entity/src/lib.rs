//! SeaORM entities for the MPI data model.
