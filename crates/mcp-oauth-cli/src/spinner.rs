//! A spinner on stderr while a sign-in waits for the person, on a terminal
//! only; notices are printed above it.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mcp_oauth::{OAuthBuilder, SignIn};

use crate::output::to_stderr;

/// Shared by the notice and sign-in hooks of one OAuth helper.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spinner {
    running: Arc<Mutex<Option<ProgressBar>>>,
}

impl Spinner {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Notices and sign-in waits of `builder` go through a new spinner.
    pub(crate) fn attach(builder: OAuthBuilder) -> OAuthBuilder {
        let spinner = Self::new();
        let notices = spinner.clone();
        builder
            .on_notice(move |message| notices.print(message))
            .on_sign_in(move |state| spinner.follow(state))
    }

    /// Prints a notice on stderr, above the spinner if one runs.
    pub(crate) fn print(&self, message: &str) {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        match running.as_ref() {
            Some(bar) => bar.suspend(|| to_stderr(message)),
            None => to_stderr(message),
        }
    }

    pub(crate) fn follow(&self, state: SignIn) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bar) = running.take() {
            bar.finish_and_clear();
        }
        if state == SignIn::Waiting {
            // Drawn only when stderr is a terminal; otherwise hidden.
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.set_message("Waiting for you to sign in… (Ctrl-C cancels)");
            bar.enable_steady_tick(Duration::from_millis(120));
            *running = Some(bar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_and_stops_with_the_sign_in() {
        let spinner = Spinner::new();
        spinner.follow(SignIn::Waiting);
        assert!(spinner.running.lock().unwrap().is_some());
        spinner.print("a notice while waiting");
        spinner.follow(SignIn::Done);
        assert!(spinner.running.lock().unwrap().is_none());
    }
}
