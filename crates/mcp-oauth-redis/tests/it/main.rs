//! The integration tests: one binary, each test against a `redis-server`
//! of its own.

mod accounts;
mod fence;
mod pending;
mod refresh;
mod sealing;
mod support;
mod tls;
mod unreachable;
