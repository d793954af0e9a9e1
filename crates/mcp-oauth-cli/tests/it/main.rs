//! The `mcp-oauth` binary, run as a user would, against testkit servers.

mod commands;
mod device;
mod failures;
mod interrupt;
mod oauth;
mod options;
mod proxy;
mod proxy_messages;
mod proxy_sessions;
mod proxy_stdin;
mod secrets;
mod support;
