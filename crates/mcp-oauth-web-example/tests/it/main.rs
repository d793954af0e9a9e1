//! The example platform's tests: its binary started as instances on free
//! loopback ports, driven over HTTP as browsers would, against the
//! testkit's authorization and MCP servers (and a real Redis for fleets).

mod fleet;
mod flow;
mod scale;
mod support;
