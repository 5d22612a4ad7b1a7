//! The pure parts of the `talent` command, independent of the services:
//! code display names, the demo city generator, data file
//! parsing, statistics rendering and the period report.
//!
//! Everything here works on the generated contract types
//! (`talent_proto::talent::*::v1`) and never on the network, so the command's
//! subcommands stay thin: parse arguments, call a function here, call a gRPC
//! method, call a function here again.

pub mod client;
pub mod codes;
pub mod commands;
pub mod demo;
pub mod demo_push;
pub mod files;
pub mod format;
pub mod report;
pub mod secrets;
