//! TODO(owner): scoring
