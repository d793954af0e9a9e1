//! How the user reaches the authorization URL.
