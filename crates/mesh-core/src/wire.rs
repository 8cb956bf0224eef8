//! The block-exchange wire codec.
//!
//! INTERFACE SKELETON: to be implemented (owner: wire helper).
