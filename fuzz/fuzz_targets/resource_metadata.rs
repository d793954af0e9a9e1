//! Protected resource metadata (RFC 9728), `NNNn` status line optional.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_oauth::fuzzing::resource_metadata(data));
