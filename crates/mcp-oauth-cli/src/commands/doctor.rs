//! `mcp-oauth doctor <URL>`: each step of the flow tried against the
//! server, one line each with what was seen and, on failure, what to do.
//! Exits with the code of the first step that failed.

use clap::Args;
use mcp_oauth::{CheckProblem, CheckStatus, CheckStep, Checkup};
use serde_json::json;

use crate::{
    failure::{Exit, Failure},
    options::{GlobalArgs, OAuthArgs, UrlArg},
    output::Output,
};

#[derive(Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub(crate) server: UrlArg,

    /// Also refresh the stored tokens now, to see that refreshing works
    /// (the new tokens are kept).
    #[arg(long)]
    pub(crate) refresh: bool,

    #[command(flatten)]
    pub(crate) oauth: OAuthArgs,
}

pub(crate) async fn run(
    args: &DoctorArgs,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let url = args.server.url.as_str();
    let oauth = args.oauth.oauth(url, global)?;
    let checkup = oauth.checkup(args.refresh).await?;
    let hints = |problem: CheckProblem| hint(problem, url, global);
    if global.json {
        let findings: Vec<_> = checkup
            .findings
            .iter()
            .map(|finding| {
                json!({
                    "step": finding.step,
                    "status": finding.status,
                    "summary": finding.summary,
                    "problem": finding.problem,
                    "hint": finding.problem.map(hints),
                })
            })
            .collect();
        out.json(&json!({
            "server": url,
            "ok": checkup.first_failure().is_none(),
            "findings": findings,
        }))?;
    } else {
        print_findings(&checkup, out, &hints)?;
    }
    match checkup.first_failure() {
        None => Ok(()),
        Some(finding) => Err(Failure::new(
            exit_for(finding.problem),
            format!("{} failed", step_name(finding.step)),
        )),
    }
}

fn print_findings(
    checkup: &Checkup,
    out: &mut Output,
    hints: &dyn Fn(CheckProblem) -> String,
) -> Result<(), Failure> {
    let marks = Marks::for_terminal();
    for finding in &checkup.findings {
        let mark = match finding.status {
            CheckStatus::Passed => marks.passed,
            CheckStatus::Failed => marks.failed,
            _ => marks.skipped,
        };
        out.line(&format!(
            "{mark} {:<22} {}",
            step_name(finding.step),
            finding.summary
        ))?;
        if let Some(problem) = finding.problem {
            out.line(&format!("  {:<22} -> {}", "", hints(problem)))?;
        }
    }
    Ok(())
}

/// ✓ and ✗ where the terminal reads UTF-8; plain words elsewhere.
struct Marks {
    passed: &'static str,
    failed: &'static str,
    skipped: &'static str,
}

impl Marks {
    fn for_terminal() -> Self {
        let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
            .unwrap_or_default()
            .to_ascii_lowercase();
        if locale.contains("utf-8") || locale.contains("utf8") {
            Self {
                passed: "✓",
                failed: "✗",
                skipped: "·",
            }
        } else {
            Self {
                passed: "ok  ",
                failed: "FAIL",
                skipped: "--  ",
            }
        }
    }
}

fn step_name(step: CheckStep) -> &'static str {
    match step {
        CheckStep::Reachable => "reachable",
        CheckStep::McpEndpoint => "MCP endpoint",
        CheckStep::Challenge => "401 challenge",
        CheckStep::ResourceMetadata => "resource metadata",
        CheckStep::AuthorizationServer => "authorization server",
        CheckStep::CallbackPort => "callback port",
        CheckStep::StoredCredentials => "stored credentials",
        CheckStep::Refresh => "refresh",
        _ => "check",
    }
}

fn exit_for(problem: Option<CheckProblem>) -> Exit {
    match problem {
        Some(CheckProblem::Unreachable | CheckProblem::Tls) => Exit::Unreachable,
        Some(CheckProblem::NotMcp) => Exit::NotMcp,
        Some(CheckProblem::Storage) => Exit::Local,
        _ => Exit::Unauthorized,
    }
}

/// What to do about `problem`, in terms of this command line.
fn hint(problem: CheckProblem, url: &str, global: &GlobalArgs) -> String {
    let account = global.account_option();
    match problem {
        CheckProblem::Unreachable => {
            "check the URL and the network (behind a proxy, set HTTPS_PROXY)".into()
        }
        CheckProblem::Tls => "the server's certificate is not trusted here: add the certificate \
                              authority that signed it to the system's trust store"
            .into(),
        CheckProblem::NotMcp => "check that the URL is the server's MCP endpoint (often ending \
                                 in /mcp, or /sse for older servers)"
            .into(),
        CheckProblem::NoChallenge => "the server should answer 401 with a WWW-Authenticate \
                                      challenge (RFC 9728); sign-in still works when its \
                                      metadata is at the well-known places"
            .into(),
        CheckProblem::NoResourceMetadata => "the server publishes no protected resource \
                                             metadata (RFC 9728): ask its operator"
            .into(),
        CheckProblem::ResourceMismatch => {
            "the metadata is for another server: check the URL".into()
        }
        CheckProblem::NoAuthServerMetadata => "the authorization server publishes no usable \
                                               metadata (RFC 8414): ask its operator"
            .into(),
        CheckProblem::IssuerMismatch => "refused for safety (a mix-up attack looks like this): \
                                         tell the server's operator"
            .into(),
        CheckProblem::NoPkceS256 => "the authorization server must offer PKCE with S256; no \
                                     sign-in is made without it"
            .into(),
        CheckProblem::NoRegistration => "register a client at the authorization server and \
                                         give it with --client-id (and --client-secret)"
            .into(),
        CheckProblem::CallbackPortInUse => {
            "free that port, or choose another with --callback-port PORT".into()
        }
        CheckProblem::Expired | CheckProblem::RefreshFailed => {
            format!("log in again: mcp-oauth login {url}{account}")
        }
        CheckProblem::Storage => {
            "check the cache folder (--cache-dir) or the store (--store)".into()
        }
        _ => "see mcp-oauth --help".into(),
    }
}
