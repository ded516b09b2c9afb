//! mt
