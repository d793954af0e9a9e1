//! The pause after a futile renewal: when a server refuses the token it was
//! just given (by a sign-in or a refresh made because of its refusal), a
//! new sign-in would most likely be refused too. A long-lived process
//! (a proxy, an agent) would otherwise open a browser, or spend a token
//! request, on every call it relays. So renewals for that server pause until
//! something changes: the server asks for something else (another scope,
//! other resource metadata), new tokens are stored (a person signed in), a
//! token is accepted, or a backoff that grows from one minute to half an
//! hour has passed.

use std::{
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use http::HeaderValue;

use crate::auth::Rejection;

/// The first pause; each pause in a row doubles it, up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(60);
const LONGEST_PAUSE: Duration = Duration::from_secs(30 * 60);

/// What a refusal asks for, leaving out what varies from one refusal to
/// the next without asking for anything new (`error`, its description: a
/// server says `invalid_token` to a token and nothing to no token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefusalKind {
    status: u16,
    scope: Option<Vec<String>>,
    resource_metadata: Option<String>,
}

impl RefusalKind {
    pub(crate) fn of(rejection: &Rejection) -> Self {
        let challenge = rejection.challenge.as_ref();
        let scope = challenge.and_then(|c| c.scope.as_deref()).map(|scope| {
            let mut scopes: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
            scopes.sort_unstable();
            scopes.dedup();
            scopes
        });
        Self {
            status: rejection.status,
            scope,
            resource_metadata: challenge.and_then(|c| c.resource_metadata.clone()),
        }
    }
}

/// Renewals made because of a refusal, watched until the server accepts
/// their token.
#[derive(Debug, Default)]
pub(super) struct RenewalWatch {
    /// Whether `state` holds anything: requests that succeed look here
    /// without locking.
    watching: AtomicBool,
    state: Mutex<WatchState>,
}

#[derive(Debug, Default)]
struct WatchState {
    /// The header of a token renewed because of a refusal of this kind, not
    /// yet seen accepted.
    unproven: Option<(HeaderValue, RefusalKind)>,
    paused: Option<Pause>,
    /// Pauses in a row, for the backoff.
    strikes: u32,
}

#[derive(Debug)]
struct Pause {
    kind: RefusalKind,
    /// The header of the refused token.
    refused: HeaderValue,
    until: Instant,
}

impl RenewalWatch {
    fn state(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A token renewed because of a refusal of `kind`: watched until the
    /// server accepts it.
    pub(super) fn renewed(&self, header: HeaderValue, kind: RefusalKind) {
        let mut state = self.state();
        state.unproven = Some((header, kind));
        self.watching.store(true, Ordering::Release);
    }

    /// The server answered a request sent with `sent` without refusing it:
    /// a watched token is proven, and a pause over it ends.
    pub(super) fn accepted(&self, sent: &HeaderValue) {
        if !self.watching.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.state();
        if state
            .unproven
            .as_ref()
            .is_some_and(|(header, _)| header == sent)
        {
            state.unproven = None;
            state.strikes = 0;
        }
        if state
            .paused
            .as_ref()
            .is_some_and(|pause| pause.refused == sent)
        {
            state.paused = None;
            state.strikes = 0;
        }
        self.watching.store(
            state.unproven.is_some() || state.paused.is_some(),
            Ordering::Release,
        );
    }

    /// Everything starts over: a person signed in, or new tokens came from
    /// the store.
    pub(super) fn reset(&self) {
        let mut state = self.state();
        *state = WatchState::default();
        self.watching.store(false, Ordering::Release);
    }

    /// How long renewals stay paused after `rejection` of the request sent
    /// with `sent`, if they do: when it refuses the token just renewed for a
    /// refusal of the same kind, a pause starts (or grows); while a pause
    /// for this kind of refusal lasts, it goes on.
    pub(super) fn pause_for(
        &self,
        rejection: &Rejection,
        sent: Option<&HeaderValue>,
        now: Instant,
    ) -> Option<Duration> {
        if !self.watching.load(Ordering::Acquire) {
            return None;
        }
        let kind = RefusalKind::of(rejection);
        let mut state = self.state();
        if let Some(pause) = &state.paused
            && pause.kind == kind
            && now < pause.until
        {
            return Some(pause.until - now);
        }
        let futile = sent.is_some_and(|sent| {
            state
                .unproven
                .as_ref()
                .is_some_and(|(header, renewed_for)| header == sent && *renewed_for == kind)
        });
        if !futile {
            return None;
        }
        let (refused, _) = state.unproven.take()?;
        state.strikes = state.strikes.saturating_add(1);
        let length = FIRST_PAUSE
            .saturating_mul(1 << (state.strikes - 1).min(10))
            .min(LONGEST_PAUSE);
        state.paused = Some(Pause {
            kind,
            refused,
            until: now + length,
        });
        Some(length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(header: &str) -> Rejection {
        Rejection::new("http://127.0.0.1:9/mcp", 401, Some(header.to_owned()))
    }

    fn token(text: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Bearer {text}")).unwrap()
    }

    #[test]
    fn a_refused_renewal_pauses_renewals_with_a_growing_backoff() {
        let watch = RenewalWatch::default();
        let first = refusal(r#"Bearer resource_metadata="http://x/prm""#);
        let again = refusal(r#"Bearer error="invalid_token", resource_metadata="http://x/prm""#);
        let start = Instant::now();
        assert_eq!(
            watch.pause_for(&first, None, start),
            None,
            "nothing renewed yet"
        );

        watch.renewed(token("one"), RefusalKind::of(&first));
        assert_eq!(
            watch.pause_for(&again, Some(&token("one")), start),
            Some(FIRST_PAUSE),
            "the renewed token refused for the same reason"
        );
        let later = start + Duration::from_secs(59);
        assert_eq!(
            watch.pause_for(&again, Some(&token("one")), later),
            Some(Duration::from_secs(1)),
            "the pause goes on"
        );
        let after = start + FIRST_PAUSE;
        assert_eq!(
            watch.pause_for(&again, Some(&token("one")), after),
            None,
            "it ends"
        );

        watch.renewed(token("two"), RefusalKind::of(&again));
        assert_eq!(
            watch.pause_for(&again, Some(&token("two")), after),
            Some(FIRST_PAUSE * 2),
            "twice as long the second time"
        );
        let mut now = after;
        for _ in 0..10 {
            now += LONGEST_PAUSE;
            watch.renewed(token("n"), RefusalKind::of(&again));
            assert!(watch.pause_for(&again, Some(&token("n")), now).unwrap() <= LONGEST_PAUSE);
        }
        assert_eq!(
            watch.pause_for(&again, Some(&token("n")), now),
            Some(LONGEST_PAUSE)
        );
    }

    #[test]
    fn another_kind_of_refusal_or_an_accepted_token_ends_the_pause() {
        let watch = RenewalWatch::default();
        let plain = refusal("Bearer");
        let more_scope = Rejection::new(
            "http://127.0.0.1:9/mcp",
            403,
            Some(r#"Bearer error="insufficient_scope", scope="admin""#.into()),
        );
        let now = Instant::now();
        watch.renewed(token("one"), RefusalKind::of(&plain));
        assert!(watch.pause_for(&plain, Some(&token("one")), now).is_some());
        assert_eq!(
            watch.pause_for(&more_scope, Some(&token("one")), now),
            None,
            "a step-up is something new"
        );
        watch.accepted(&token("one"));
        assert_eq!(watch.pause_for(&plain, Some(&token("one")), now), None);

        // An older token refused is not the renewal refused.
        watch.renewed(token("two"), RefusalKind::of(&plain));
        assert_eq!(watch.pause_for(&plain, Some(&token("one")), now), None);
        watch.reset();
        assert_eq!(watch.pause_for(&plain, Some(&token("two")), now), None);
    }
}
