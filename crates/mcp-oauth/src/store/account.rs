//! Accounts: whose credentials a document holds. One MCP server may be
//! used by many people (the users of a web platform) or under several
//! identities (a work and a personal account); each (server, account) has
//! its own tokens. The default account, no name at all, is the document a
//! single person has always had.

use crate::{Error, Result};

/// The longest account name, in bytes.
pub const MAX_ACCOUNT_LEN: usize = 256;

/// Checks an account name: 1 to 256 bytes, no control character, no
/// leading or trailing space. Names are free otherwise (`user-42`,
/// `alice@example.com`, `work`): stores hash them into key and file names.
///
/// ```
/// use mcp_oauth::check_account;
/// assert!(check_account("alice@example.com").is_ok());
/// assert!(check_account("").is_err());
/// assert!(check_account(" work").is_err());
/// ```
pub fn check_account(name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("it is empty; leave the account out for the default one")
    } else if name.len() > MAX_ACCOUNT_LEN {
        Some("it is longer than 256 bytes")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if name.trim() != name {
        Some("it begins or ends with a space")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Error::InvalidConfig {
            reason: format!(
                "the account name {:?} cannot be used: {problem}",
                crate::terminal_safe_line(&name.chars().take(80).collect::<String>())
            ),
        }),
        None => Ok(()),
    }
}

/// An account as messages name it: `account "work"`, or `the default
/// account`; safe for a terminal.
pub(crate) fn account_label(account: Option<&str>) -> String {
    match account {
        Some(name) => format!("account {:?}", crate::terminal_safe_line(name)),
        None => "the default account".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_free_but_printable() {
        for good in ["user-42", "alice@example.com", "Zoë", "a b"] {
            check_account(good).unwrap();
        }
        for bad in ["", " x", "x ", "a\u{1b}[2Jb", "a\nb", &"x".repeat(257)] {
            let error = check_account(bad).unwrap_err().to_string();
            assert!(error.contains("cannot be used"), "{error}");
            assert!(!error.contains('\u{1b}'), "{error}");
        }
    }
}
