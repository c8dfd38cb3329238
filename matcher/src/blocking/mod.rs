//! TODO(owner): blocking
