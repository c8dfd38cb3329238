//! TODO(owner): synth
