//! TODO(owner): eval
