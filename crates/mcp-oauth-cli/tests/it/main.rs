//! The `mcp-oauth` binary, run as a user would, against testkit servers.

mod cache_folder;
mod commands;
mod device;
mod exit_codes;
mod failures;
mod full_disk;
mod interrupt;
mod oauth;
mod options;
mod proxy;
mod proxy_messages;
mod proxy_sessions;
mod secrets;
mod support;
