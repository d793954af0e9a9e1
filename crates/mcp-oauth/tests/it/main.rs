//! Integration tests: the client against the testkit's servers on loopback.

mod accounts;
mod bad_input;
mod bearer;
mod bridge;
mod device;
mod dpop;
mod fuzz_seeds;
mod headers;
mod hostile;
mod integrations;
mod legacy_sse;
mod modern;
mod nagle;
mod oauth;
mod oauth_lasting;
mod providers;
mod secrets;
mod stdio;
mod storage;
mod streamable;
mod support;
mod web;
mod workload;
