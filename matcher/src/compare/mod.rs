//! TODO(owner): compare
