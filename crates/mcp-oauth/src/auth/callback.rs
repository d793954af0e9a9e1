//! The loopback server that receives the OAuth redirect.
