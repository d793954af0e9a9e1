//! Tests of the user agents; browsers are stand-in scripts, and the
//! environment is passed in, never changed.

use std::{
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use super::*;

fn env(browser: Option<String>, has_display: bool) -> Env {
    Env {
        browser,
        has_display,
        fail_fast: Duration::from_millis(500),
    }
}

fn command(program: &str, args: &[&str]) -> BrowserCommand {
    BrowserCommand {
        program: program.into(),
        args: args.iter().map(|arg| (*arg).to_owned()).collect(),
    }
}

/// Runs `present_with`, returning its result and the notices given.
async fn run(agent: &UserAgent, url: &Url, env: Env) -> (Result<Presented>, Vec<String>) {
    let notices = Mutex::new(Vec::new());
    let notice = |text: &str| notices.lock().unwrap().push(text.to_owned());
    let result = present_with(agent, url, &notice, &env).await;
    (result, notices.into_inner().unwrap())
}

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "mcp-oauth-ua-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    /// A stand-in browser that records its arguments (the count, then one
    /// per line) in `argv`, then exits with `status`. It is run by `sh` as
    /// a program, like any browser, so the URL never reaches a shell
    /// command line.
    fn recorder(&self, name: &str, status: u8) -> String {
        let script = self.0.join(format!("{name}.sh"));
        std::fs::write(
            &script,
            format!(
                "printf '%s\\n' \"$#\" \"$@\" > '{}'\nexit {status}\n",
                self.argv(name).display()
            ),
        )
        .unwrap();
        format!("/bin/sh {}", script.display())
    }

    fn argv(&self, name: &str) -> PathBuf {
        self.0.join(format!("{name}.argv"))
    }

    fn recorded(&self, name: &str) -> Option<Vec<String>> {
        let text = std::fs::read_to_string(self.argv(name)).ok()?;
        let mut lines = text.lines().map(str::to_owned);
        let count: usize = lines.next()?.parse().ok()?;
        let args: Vec<_> = lines.collect();
        assert_eq!(args.len(), count, "an argument contained a line break");
        Some(args)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn browser_env_is_split_like_xdg_open() {
    assert_eq!(parse_browser_env(""), vec![]);
    assert_eq!(parse_browser_env(" : :"), vec![]);
    assert_eq!(parse_browser_env("firefox"), vec![command("firefox", &[])]);
    assert_eq!(
        parse_browser_env(" chromium --new-window %s : lynx:w3m -o x"),
        vec![
            command("chromium", &["--new-window", "%s"]),
            command("lynx", &[]),
            command("w3m", &["-o", "x"]),
        ]
    );
    // No shell syntax: quotes and `$` are plain characters.
    assert_eq!(
        parse_browser_env("open \"a b\" $HOME"),
        vec![command("open", &["\"a", "b\"", "$HOME"])]
    );
}

#[test]
fn url_replaces_percent_s_or_comes_last() {
    let url = "https://as.example/a?x=%s&y=1";
    assert_eq!(command("firefox", &[]).argv(url), vec![url]);
    assert_eq!(
        command("firefox", &["-P", "work"]).argv(url),
        vec!["-P", "work", url]
    );
    assert_eq!(
        command("b", &["--url=%s", "--again", "%s"]).argv(url),
        vec![format!("--url={url}"), "--again".into(), url.into()]
    );
    assert_eq!(
        command("b", &["--flag", "%s"]).to_string(),
        "b --flag %s",
        "errors name the command, not the URL"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn browser_gets_the_url_as_one_unmodified_argument_and_no_shell_runs() {
    let dir = TempDir::new();
    let marker = dir.path().join("pwned");
    let marker = marker.display();
    let url = Url::parse(&format!(
        "https://as.example/authorize?response_type=code&scope=a%20b+c;d\
         &x=$(touch${{IFS}}{marker})&y=`touch${{IFS}}{marker}`&z=;touch${{IFS}}{marker};\
         &w=%24%28touch%20{marker}%29&v=|touch${{IFS}}{marker}"
    ))
    .unwrap();
    assert!(url.as_str().contains("$(touch${IFS}"), "{url}");

    let browser = dir.recorder("plain", 0);
    let (result, notices) = run(&UserAgent::SystemBrowser, &url, env(Some(browser), true)).await;
    assert_eq!(result.unwrap(), Presented::Opened);
    assert_eq!(dir.recorded("plain").unwrap(), vec![url.as_str()]);
    assert_eq!(notices.len(), 1);
    assert!(notices[0].contains(url.as_str()));

    let browser = format!("{} --new-tab %s --flag", dir.recorder("template", 0));
    // $BROWSER wins even without a display.
    let (result, _) = run(&UserAgent::SystemBrowser, &url, env(Some(browser), false)).await;
    assert_eq!(result.unwrap(), Presented::Opened);
    assert_eq!(
        dir.recorded("template").unwrap(),
        vec!["--new-tab", url.as_str(), "--flag"]
    );

    assert!(
        !dir.path().join("pwned").exists(),
        "a shell interpreted the URL"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn failing_browsers_fall_through_to_the_next_entry() {
    let dir = TempDir::new();
    let url = Url::parse("https://as.example/authorize?state=s").unwrap();
    let browser = format!(
        "{missing}:{failing}:{working}",
        missing = dir.path().join("no-such-browser").display(),
        failing = dir.recorder("failing", 3),
        working = dir.recorder("working", 0),
    );
    let (result, _) = run(&UserAgent::SystemBrowser, &url, env(Some(browser), true)).await;
    assert_eq!(result.unwrap(), Presented::Opened);
    assert!(dir.recorded("failing").is_some());
    assert_eq!(dir.recorded("working").unwrap(), vec![url.as_str()]);
}

#[cfg(unix)]
#[tokio::test]
async fn all_browsers_failing_is_an_error_naming_the_commands() {
    let dir = TempDir::new();
    let url = Url::parse("https://as.example/authorize?state=secret-state").unwrap();
    let failing = dir.recorder("failing", 1);
    let missing = dir.path().join("no-such-browser");
    let browser = format!("{failing} %s:{}", missing.display());
    let (result, notices) = run(&UserAgent::SystemBrowser, &url, env(Some(browser), true)).await;
    match result.unwrap_err() {
        Error::UserAgent { reason } => {
            assert!(
                reason.contains(&format!("`{failing} %s` failed")),
                "{reason}"
            );
            assert!(
                reason.contains(&format!("`{}` could not be started", missing.display())),
                "{reason}"
            );
            assert!(!reason.contains("secret-state"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The user still has the URL.
    assert!(notices[0].contains(url.as_str()));
}

#[cfg(unix)]
#[tokio::test]
async fn a_browser_that_keeps_running_is_left_alone() {
    let dir = TempDir::new();
    let script = dir.path().join("slow.sh");
    let pid_file = dir.path().join("slow.pid");
    // A browser that keeps running for a minute (its pid noted, to end it).
    std::fs::write(
        &script,
        format!("echo $$ > '{}'\nexec sleep 60\n", pid_file.display()),
    )
    .unwrap();
    let url = Url::parse("http://127.0.0.1:9/authorize").unwrap();
    let started = Instant::now();
    let browser = format!("/bin/sh {}", script.display());
    let (result, _) = run(&UserAgent::SystemBrowser, &url, env(Some(browser), true)).await;
    assert_eq!(result.unwrap(), Presented::Opened);
    // Not waited for: far less than its minute, however busy the machine.
    assert!(started.elapsed() < Duration::from_secs(30));
    // The browser noted its pid as it started (on a busy machine, maybe
    // only now): end it.
    for _ in 0..100 {
        if let Ok(pid) = std::fs::read_to_string(&pid_file)
            && !pid.trim().is_empty()
        {
            let _ = std::process::Command::new("kill").arg(pid.trim()).status();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(unix)]
#[tokio::test]
async fn non_http_urls_are_refused_before_anything_starts() {
    let dir = TempDir::new();
    for url in [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ftp://as.example/x",
    ] {
        let url = Url::parse(url).unwrap();
        for agent in [
            UserAgent::SystemBrowser,
            UserAgent::PrintUrl,
            UserAgent::custom(|_| async { panic!("the custom agent was called") }),
        ] {
            let browser = dir.recorder("refused", 0);
            let (result, notices) = run(&agent, &url, env(Some(browser), true)).await;
            assert!(
                matches!(result, Err(Error::Insecure { .. })),
                "{url}: {result:?}"
            );
            assert!(notices.is_empty());
            assert!(dir.recorded("refused").is_none(), "a browser was started");
        }
    }
}

#[tokio::test]
async fn print_url_and_no_display_only_print() {
    let url = Url::parse("https://as.example/authorize?a=1&b=2").unwrap();
    let (result, notices) = run(&UserAgent::PrintUrl, &url, env(None, true)).await;
    assert_eq!(result.unwrap(), Presented::Printed);
    assert_eq!(
        notices,
        vec![format!("Open this URL in a browser to sign in:\n{url}")]
    );

    for browser in [None, Some(String::new()), Some(" : ".to_owned())] {
        let (result, notices) = run(&UserAgent::SystemBrowser, &url, env(browser, false)).await;
        assert_eq!(result.unwrap(), Presented::Printed);
        assert!(notices[0].starts_with("No graphical display found."));
        assert!(notices[0].ends_with(url.as_str()));
    }
}

#[tokio::test]
async fn custom_agent_receives_the_url() {
    let url = Url::parse("https://as.example/authorize?state=x").unwrap();
    let seen = Arc::new(Mutex::new(None));
    let agent = {
        let seen = Arc::clone(&seen);
        UserAgent::custom(move |url| {
            *seen.lock().unwrap() = Some(url);
            async { Ok(()) }
        })
    };
    let (result, notices) = run(&agent, &url, env(None, false)).await;
    assert_eq!(result.unwrap(), Presented::Opened);
    assert_eq!(seen.lock().unwrap().as_ref(), Some(&url));
    assert!(notices[0].contains(url.as_str()));

    let failing = UserAgent::custom(|_| async {
        Err(Error::UserAgent {
            reason: "no UI".into(),
        })
    });
    let (result, _) = run(&failing, &url, env(None, true)).await;
    assert!(matches!(result, Err(Error::UserAgent { reason }) if reason == "no UI"));
}

#[test]
fn debug_names_the_variant_only() {
    assert_eq!(format!("{:?}", UserAgent::SystemBrowser), "SystemBrowser");
    assert_eq!(format!("{:?}", UserAgent::PrintUrl), "PrintUrl");
    let custom = UserAgent::custom(|_| async { Ok(()) });
    assert_eq!(format!("{custom:?}"), "Custom(..)");
}

#[test]
fn present_is_send_whatever_the_notice() {
    fn assert_send<T: Send>(_: &T) {}
    let url = Url::parse("https://as.example/").unwrap();
    let not_sync = std::cell::Cell::new(0);
    let notice = |_: &str| not_sync.set(not_sync.get() + 1);
    let future = present(&UserAgent::PrintUrl, &url, &notice);
    assert_send(&future);
    assert_eq!(not_sync.get(), 1);
}

#[tokio::test]
async fn browser_only_fails_at_once_where_no_browser_can_open() {
    let url = Url::parse("https://as.example/authorize?x=1").unwrap();
    let (result, notices) = run(&UserAgent::BrowserOnly, &url, env(None, false)).await;
    assert!(
        matches!(result, Err(Error::SignInUnavailable { .. })),
        "{result:?}"
    );
    assert!(notices.is_empty(), "nothing is printed: {notices:?}");
}

#[tokio::test]
async fn browser_only_opens_browser_where_one_can() {
    let dir = TempDir::new();
    let url = Url::parse("https://as.example/authorize?x=1").unwrap();
    let browser = dir.recorder("only", 0);
    let (result, _) = run(&UserAgent::BrowserOnly, &url, env(Some(browser), false)).await;
    assert_eq!(result.unwrap(), Presented::Opened);
    assert_eq!(dir.recorded("only").unwrap(), vec![url.to_string()]);
}
