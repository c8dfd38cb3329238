//! TODO(owner): normalize
