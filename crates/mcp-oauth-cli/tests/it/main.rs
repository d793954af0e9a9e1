//! The `mcp-oauth` binary, run as a user would, against testkit servers.

mod commands;
mod device;
mod failures;
mod oauth;
mod proxy;
mod support;
