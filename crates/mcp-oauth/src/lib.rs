//! mcp-oauth
