//! The `mcp-oauth` binary, run as a user would, against testkit servers.

// The crate's clippy.toml keeps the command's own output in one place;
// the tests print only their own notes, to whoever runs them.
#![allow(clippy::disallowed_macros)]

mod accounts;
mod cache_folder;
mod commands;
mod device;
mod doctor;
mod enterprise;
mod exit_codes;
mod failures;
#[cfg(target_os = "linux")]
mod fleet;
#[cfg(target_os = "linux")]
mod fleet_bed;
mod full_disk;
mod headers;
mod interrupt;
#[cfg(target_os = "linux")]
mod keyring;
mod modern;
mod oauth;
mod options;
mod providers;
mod proxy;
mod proxy_messages;
mod proxy_sessions;
mod proxy_stdin;
mod readme;
mod round_trips;
mod secrets;
mod servers;
mod shared_store;
mod support;
mod terminal;
mod workload;
