//! TODO(owner): cluster
