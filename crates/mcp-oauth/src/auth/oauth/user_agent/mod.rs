//! How the user reaches the authorization URL.
//!
//! Only `http`/`https` URLs are ever handed on, a browser is started
//! directly (never through a shell) with the URL as one argument, and the
//! URL always reaches the terminal too, since a browser may fail silently.

use std::{fmt, process::Stdio, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use url::Url;

use crate::{Error, Result};

/// How long a started browser may take to fail before it is taken to work.
const FAIL_FAST: Duration = Duration::from_secs(2);

/// How long the platform's default browser launcher may block.
const DEFAULT_BROWSER_WAIT: Duration = Duration::from_secs(10);

/// What separates the commands in `$BROWSER` (as in `PATH`).
const BROWSER_SEPARATOR: char = if cfg!(windows) { ';' } else { ':' };

/// How the authorization URL reaches the user.
///
/// Whatever the choice, the URL is also printed, so that the user can open
/// it by hand when no browser shows up. Only `http` and `https` URLs are
/// ever opened.
///
/// ```
/// use mcp_oauth::UserAgent;
///
/// // The default: the system browser, or the printed URL where there is none.
/// let agent = UserAgent::default();
/// assert_eq!(format!("{agent:?}"), "SystemBrowser");
///
/// // Hand the URL to your own code instead, e.g. to show it in a UI.
/// let agent = UserAgent::custom(|url| async move {
///     eprintln!("Please sign in at {url}");
///     Ok(())
/// });
/// assert_eq!(format!("{agent:?}"), "Custom(..)");
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum UserAgent {
    /// The system browser.
    ///
    /// When `$BROWSER` is set it is used as `xdg-open` does: a list of
    /// commands separated by `:`, each run in turn until one works, with
    /// `%s` replaced by the URL (or the URL added as the last argument).
    /// The commands are split on whitespace and run directly, never through
    /// a shell. Otherwise the platform's default browser is opened; on Linux
    /// without a display (no `DISPLAY` or `WAYLAND_DISPLAY`) the URL is only
    /// printed.
    #[default]
    SystemBrowser,
    /// Print the URL, and wait for the callback or for the redirect URL to be
    /// pasted.
    PrintUrl,
    /// The system browser, as [`UserAgent::SystemBrowser`] opens it, and
    /// nothing else: where none can open (no graphical display and no
    /// `$BROWSER`), the sign-in fails at once with
    /// [`Error::SignInUnavailable`] instead of printing the URL and waiting
    /// for it to be pasted. Nothing is ever read from stdin: for processes
    /// whose stdin and terminal belong to something else, such as a stdio
    /// bridge ([`bridge_stdio`](crate::bridge_stdio)).
    BrowserOnly,
    /// A function of yours receives the URL (to show it in a UI, or to drive
    /// a browser in tests). See [`UserAgent::custom`].
    #[allow(
        clippy::type_complexity,
        reason = "spelled out, the type documents itself"
    )]
    Custom(Arc<dyn Fn(&Url) -> BoxFuture<'static, Result<()>> + Send + Sync>),
}

impl UserAgent {
    /// Hands the authorization URL to `open`; an error it returns ends the
    /// sign-in.
    ///
    /// ```
    /// use mcp_oauth::{OAuth, UserAgent};
    /// let agent = UserAgent::custom(|url| async move {
    ///     println!("open {url} to sign in");
    ///     Ok(())
    /// });
    /// let builder = OAuth::builder("https://mcp.example.com/mcp").user_agent(agent);
    /// ```
    pub fn custom<F, Fut>(open: F) -> Self
    where
        F: Fn(Url) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        Self::Custom(Arc::new(move |url: &Url| Box::pin(open(url.clone()))))
    }
}

impl fmt::Debug for UserAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SystemBrowser => "SystemBrowser",
            Self::PrintUrl => "PrintUrl",
            Self::BrowserOnly => "BrowserOnly",
            Self::Custom(_) => "Custom(..)",
        })
    }
}

/// What [`present`] did with the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presented {
    /// A browser (or the custom function) took it.
    Opened,
    /// It was only printed: the user opens it by hand.
    Printed,
}

/// Brings `url` to the user as `agent` says. `notice` receives, before
/// anything is started, one message for a person that contains the URL on a
/// line of its own; the caller prints it (to stderr).
///
/// Nothing is started, and `notice` not called, for a URL that is not
/// `http`/`https`.
pub(crate) fn present<'a>(
    agent: &UserAgent,
    url: &'a Url,
    notice: &dyn Fn(&str),
) -> impl Future<Output = Result<Presented>> + Send + use<'a> {
    present_with(agent, url, notice, &Env::from_process())
}

/// The parts of the environment [`present`] looks at, so that tests need not
/// change the process environment.
#[derive(Debug, Clone)]
struct Env {
    /// `$BROWSER`, when set.
    browser: Option<String>,
    /// Whether a graphical browser can show up at all.
    has_display: bool,
    /// How long a started browser may take to fail.
    fail_fast: Duration,
}

impl Env {
    fn from_process() -> Self {
        let browser = match std::env::var("BROWSER") {
            Ok(value) => Some(value),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                tracing::warn!("$BROWSER is not valid UTF-8; ignoring it");
                None
            }
        };
        Self {
            browser,
            has_display: display_available(),
            fail_fast: FAIL_FAST,
        }
    }
}

/// Where browsers need an X11 or Wayland display, whether there is one (WSL
/// opens the Windows browser without).
fn display_available() -> bool {
    if cfg!(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "windows",
        target_os = "android"
    )) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY", "WSL_DISTRO_NAME"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// What will be done with the URL.
enum Plan {
    Print { no_display: bool },
    Commands(Vec<BrowserCommand>),
    DefaultBrowser,
    Custom(Arc<OpenUrl>),
}

/// The function behind [`UserAgent::Custom`].
type OpenUrl = dyn Fn(&Url) -> BoxFuture<'static, Result<()>> + Send + Sync;

impl Plan {
    fn notice(&self, url: &Url) -> String {
        let intro = match self {
            Self::Print { no_display: false } => "Open this URL in a browser to sign in:",
            Self::Print { no_display: true } => {
                "No graphical display found. Open this URL in a browser to sign in:"
            }
            Self::Commands(_) | Self::DefaultBrowser => {
                "Opening the sign-in page in your browser. If it does not open, visit this URL:"
            }
            Self::Custom(_) => "Sign in at this URL:",
        };
        format!("{intro}\n{url}")
    }
}

fn plan(agent: &UserAgent, url: &Url, env: &Env) -> Result<Plan> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Insecure {
            url: url.as_str().to_owned(),
            reason: "only http and https authorization URLs are opened".into(),
        });
    }
    Ok(match agent {
        UserAgent::PrintUrl => Plan::Print { no_display: false },
        UserAgent::Custom(open) => Plan::Custom(Arc::clone(open)),
        UserAgent::SystemBrowser | UserAgent::BrowserOnly => {
            let commands = env
                .browser
                .as_deref()
                .map(parse_browser_env)
                .unwrap_or_default();
            if !commands.is_empty() {
                Plan::Commands(commands)
            } else if env.has_display {
                Plan::DefaultBrowser
            } else if matches!(agent, UserAgent::BrowserOnly) {
                return Err(Error::SignInUnavailable {
                    reason: "it needs a browser, and none can be opened (no graphical display \
                             and no $BROWSER)"
                        .into(),
                });
            } else {
                Plan::Print { no_display: true }
            }
        }
    })
}

fn present_with<'a>(
    agent: &UserAgent,
    url: &'a Url,
    notice: &dyn Fn(&str),
    env: &Env,
) -> impl Future<Output = Result<Presented>> + Send + use<'a> {
    // Decided, and told, before the first await: `notice` need not be Send.
    let plan = plan(agent, url, env);
    let fail_fast = env.fail_fast;
    if let Ok(plan) = &plan {
        notice(&plan.notice(url));
    }
    async move {
        match plan? {
            Plan::Print { .. } => Ok(Presented::Printed),
            Plan::Custom(open) => {
                open(url).await?;
                Ok(Presented::Opened)
            }
            Plan::Commands(commands) => {
                run_browser_commands(&commands, url.as_str(), fail_fast).await?;
                Ok(Presented::Opened)
            }
            Plan::DefaultBrowser => {
                open_default_browser(url.as_str().to_owned()).await?;
                Ok(Presented::Opened)
            }
        }
    }
}

/// One `$BROWSER` entry: a program and its arguments, `%s` standing for the
/// URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BrowserCommand {
    program: String,
    args: Vec<String>,
}

impl BrowserCommand {
    /// The arguments for `url`: `%s` replaced, or the URL appended.
    fn argv(&self, url: &str) -> Vec<String> {
        if self.args.iter().any(|arg| arg.contains("%s")) {
            self.args.iter().map(|arg| arg.replace("%s", url)).collect()
        } else {
            let mut argv = self.args.clone();
            argv.push(url.to_owned());
            argv
        }
    }
}

impl fmt::Display for BrowserCommand {
    /// The command as configured (with `%s`, not the URL).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for arg in &self.args {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

/// Splits `$BROWSER` into commands, without any shell interpretation: no
/// quotes, no variables, no globbing.
fn parse_browser_env(value: &str) -> Vec<BrowserCommand> {
    value
        .split(BROWSER_SEPARATOR)
        .filter_map(|entry| {
            let mut words = entry.split_whitespace();
            let program = words.next()?.to_owned();
            Some(BrowserCommand {
                program,
                args: words.map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// Tries each command in turn; the first that does not fail fast wins.
async fn run_browser_commands(
    commands: &[BrowserCommand],
    url: &str,
    fail_fast: Duration,
) -> Result<()> {
    let mut failures = Vec::new();
    for command in commands {
        match launch(command, url, fail_fast).await {
            Ok(()) => return Ok(()),
            Err(why) => {
                tracing::debug!("$BROWSER command `{command}` {why}");
                failures.push(format!("`{command}` {why}"));
            }
        }
    }
    Err(Error::UserAgent {
        reason: format!("no $BROWSER command worked: {}", failures.join("; ")),
    })
}

/// Starts `command` with the URL as one argument. A browser that exits
/// with success, or is still running after `fail_fast`, counts as opened;
/// a running one is left alone and reaped in the background.
async fn launch(command: &BrowserCommand, url: &str, fail_fast: Duration) -> Result<(), String> {
    let mut process = tokio::process::Command::new(&command.program);
    process
        .args(command.argv(url))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own process group: a Ctrl-C meant for us must not close the
    // browser we started.
    #[cfg(unix)]
    process.process_group(0);
    let mut child = process
        .spawn()
        .map_err(|error| format!("could not be started: {error}"))?;
    match tokio::time::timeout(fail_fast, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("failed ({status})")),
        Ok(Err(error)) => Err(format!("could not be watched: {error}")),
        Err(_still_running) => {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
            Ok(())
        }
    }
}

/// The platform's default browser, through the `webbrowser` crate (which
/// itself opens only http(s) URLs).
async fn open_default_browser(url: String) -> Result<()> {
    let opening = tokio::task::spawn_blocking(move || {
        let mut options = webbrowser::BrowserOptions::new();
        options.with_suppress_output(true);
        webbrowser::open_browser_with_options(webbrowser::Browser::Default, &url, &options)
    });
    match tokio::time::timeout(DEFAULT_BROWSER_WAIT, opening).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(error))) => Err(Error::UserAgent {
            reason: format!("the system browser could not be started: {error}"),
        }),
        Ok(Err(error)) => Err(Error::UserAgent {
            reason: format!("opening the system browser failed: {error}"),
        }),
        // A launcher that blocks this long has most likely shown something.
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests;
