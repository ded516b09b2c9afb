//! ma
