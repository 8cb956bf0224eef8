//! The dag-pb / UnixFS node format.
//!
//! INTERFACE SKELETON: bodies to be implemented (owner: dag helper).
