//! When credentials expire, in words a person reads at a glance.

/// Seconds since the Unix epoch, the clock stored expiries use.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// `expires in …` for an expiry in the future, `expired` for one past.
pub(crate) fn expires_in(expires_at: u64) -> String {
    match expires_at.checked_sub(now()) {
        Some(left) if left > 0 => format!("expires in {}", describe_seconds(left)),
        _ => "expired".to_owned(),
    }
}

/// A span rounded to the unit that reads best: `90 s`, `12 min`, `3 h`.
fn describe_seconds(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds / 60),
        _ => format!("{} h", seconds / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_the_fitting_unit() {
        assert_eq!(describe_seconds(90), "90 s");
        assert_eq!(describe_seconds(720), "12 min");
        assert_eq!(describe_seconds(3 * 3600 + 5), "3 h");
    }

    #[test]
    fn past_expiries_read_expired() {
        assert_eq!(expires_in(1), "expired");
        let soon = expires_in(now() + 600);
        assert!(
            soon.starts_with("expires in ") && soon.ends_with(" min"),
            "{soon}"
        );
    }
}
