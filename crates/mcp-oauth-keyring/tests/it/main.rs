//! The keyring store against a real Secret Service: gnome-keyring on a
//! private D-Bus session bus of each test's own.

#[cfg(target_os = "linux")]
mod secret_service;
