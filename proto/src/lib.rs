//! The talent gRPC contracts: `talent.recruiting.v1`, `talent.metrics.v1`,
//! `talent.events.v1` and the shared vocabulary `talent.type.v1`, plus the
//! encoded file descriptor set that server reflection serves.
//!
//! The `.proto` files next to this crate are the source of truth; this crate
//! only compiles them.

#![allow(clippy::all, missing_docs, unreachable_pub)]

include!(concat!(env!("OUT_DIR"), "/_includes.rs"));

/// The encoded `FileDescriptorSet` of every talent `.proto` file and its
/// imports, and of `google/rpc/error_details.proto` (the messages error
/// details carry), for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/talent_descriptor.bin"));
