//! The block-exchange wire codec.
//!
//! INTERFACE SKELETON: to be implemented (owner: wire helper).

/// Identifies a request on the wire (temporary until the codec lands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);
