//! TODO(owner): training
