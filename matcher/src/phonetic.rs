//! TODO(owner): phonetic
