//! An event-stream body (Streamable HTTP and legacy SSE), or a JSON answer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_oauth::fuzzing::sse_stream(data));
