//! The fetch planner.
//!
//! INTERFACE SKELETON: to be implemented (owner: planner).
