//! What the auth layer costs in one process: rounds of N concurrent
//! `call_tool` through one connected client, three ways, against the test
//! kit's protected server on 127.0.0.1:
//!
//! - `oauth`:  `mcp_oauth::Client` with `Auth::from(OAuth)` and a cached token
//!   (every request takes its header from the OAuth state);
//! - `bearer`: `mcp_oauth::Client` with `Auth::bearer(token)` (the same token);
//! - `layer`:  rmcp's own client over this crate's HTTP layer
//!   (`AuthorizedHttpClient`) with the same static token: the HTTP layer
//!   without the `Client` around it;
//! - `rmcp`:   rmcp's Streamable HTTP client with the token as a static
//!   `Authorization` header, no auth layer at all;
//! - `rmcp-2`: a second such client, the control: how far two identical
//!   clients differ is the noise of the machine.
//!
//! All use the same protocol negotiation, a pooled HTTP client (this
//! crate's own, or `reqwest` for rmcp's clients), rmcp's default request
//! concurrency and the same headers (rmcp's clients send
//! this crate's `User-Agent` too: one header more or less moves a round by
//! about 3 %), so the difference is the layers. Rounds alternate between
//! the clients so that drift in the machine's load spreads over all of them.
//!
//! ```sh
//! cargo bench -p mcp-oauth --bench auth_overhead -- --calls 1000 --rounds 100
//! ```
//!
//! `--only oauth` (or `bearer`, `layer`, `rmcp`, `rmcp-2`) runs one client alone,
//! for a profiler, and prints only its median.
//!
//! Then the cost of DPoP (RFC 9449): rounds of the same calls through an
//! OAuth client whose token is DPoP-bound, against a testkit pair that
//! binds tokens and checks every proof, interleaved with rounds of the
//! bearer OAuth client above; the difference per call is a proof made by
//! the client and checked by the server (`--dpop-rounds`, default
//! `--rounds`; 0 skips it).
//!
//! Prints a table, then one `result` line for scripts:
//! `result calls=N rounds=R oauth_ms=.. bearer_ms=.. layer_ms=.. rmcp_ms=..
//! rmcp2_ms=.. oauth_paired=.. bearer_paired=.. layer_paired=.. rmcp2_paired=..`: medians of the round
//! times, and medians of each round's time over rmcp's in the same round.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use mcp_oauth::rmcp::{
    RoleClient,
    model::{CallToolRequestParams, ProtocolVersion},
    service::{ClientLifecycleMode, RunningService, serve_client_with_lifecycle},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use mcp_oauth::secrecy::ExposeSecret;
use mcp_oauth::{
    Auth, AuthorizedHttpClient, Client, MemoryTokenStorage, OAuth, UserAgent, model::JsonObject,
};
use mcp_oauth_testkit::{AuthServer, DpopPolicy, TestServer};
use serde_json::json;

/// Every wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The clients under test, in the order of the table.
const SUBJECTS: [&str; 5] = ["oauth", "bearer", "layer", "rmcp", "rmcp-2"];
/// The index of rmcp, the baseline, among the subjects.
const RMCP: usize = 3;
/// What this crate's HTTP layer sends as `User-Agent`; rmcp's clients here
/// send it too.
const USER_AGENT: &str = concat!("mcp-oauth/", env!("CARGO_PKG_VERSION"));

struct Options {
    calls: usize,
    rounds: usize,
    /// Runs only this client (for a profiler), with no comparison.
    only: Option<String>,
    /// Rounds of the DPoP comparison.
    dpop_rounds: Option<usize>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        calls: 1000,
        rounds: 100,
        only: None,
        dpop_rounds: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|v| *v > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match arg.as_str() {
            "--calls" => options.calls = value("--calls")?,
            "--rounds" => options.rounds = value("--rounds")?,
            "--dpop-rounds" => {
                options.dpop_rounds = Some(
                    args.next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--dpop-rounds needs a number")?,
                );
            }
            "--only" => match args.next() {
                Some(name) if SUBJECTS.contains(&name.as_str()) => options.only = Some(name),
                _ => return Err(format!("--only needs one of {}", SUBJECTS.join(", "))),
            },
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("auth_overhead: {error}");
            eprintln!("usage: auth_overhead [--calls N] [--rounds R] [--only CLIENT]");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("auth_overhead: no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let bound = TIMEOUT * u32::try_from(options.rounds + 2).unwrap_or(u32::MAX);
    match runtime.block_on(async { tokio::time::timeout(bound, run(&options)).await }) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("auth_overhead: {error}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("auth_overhead: timed out");
            ExitCode::FAILURE
        }
    }
}

/// One of the clients under test.
enum Subject {
    Ours(Client),
    Rmcp(RunningService<RoleClient, ()>),
}

impl Subject {
    async fn call(&self, arguments: Option<JsonObject>) -> Result<(), String> {
        match self {
            Self::Ours(client) => client
                .call_tool("echo", arguments)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Self::Rmcp(service) => {
                let mut params = CallToolRequestParams::new("echo");
                params.arguments = arguments;
                service
                    .peer()
                    .call_tool(params)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn close(self) {
        match self {
            Self::Ours(client) => client.close().await,
            Self::Rmcp(mut service) => {
                let _ = service.close_with_timeout(TIMEOUT).await;
            }
        }
    }
}

/// `calls` concurrent echo calls; the wall time of the whole round.
async fn round(subject: &Subject, calls: usize) -> Result<Duration, String> {
    let started = Instant::now();
    let results = futures::future::join_all((0..calls).map(|n| {
        let arguments = json!({ "text": n.to_string() }).as_object().cloned();
        subject.call(arguments)
    }))
    .await;
    let elapsed = started.elapsed();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(first)) = results.into_iter().find(Result::is_err) {
        return Err(format!("{failed} of {calls} calls failed, first: {first}"));
    }
    Ok(elapsed)
}

fn lifecycle() -> ClientLifecycleMode {
    // What mcp_oauth::Client negotiates over Streamable HTTP.
    ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
    }
}

/// rmcp's own client over Streamable HTTP, the token as a static header;
/// a pooled `reqwest` client as ours has, with our user agent.
async fn rmcp_client(url: &str, token: &str) -> Result<RunningService<RoleClient, ()>, String> {
    let mut config = transport_config(url);
    config.auth_header = Some(token.to_owned());
    let http = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| e.to_string())?;
    let transport = StreamableHttpClientTransport::with_client(http, config);
    serve_client_with_lifecycle((), transport, lifecycle())
        .await
        .map_err(|e| e.to_string())
}

/// rmcp's own client over this crate's HTTP layer, with a static token.
async fn layer_client(url: &str, token: &str) -> Result<RunningService<RoleClient, ()>, String> {
    let http = AuthorizedHttpClient::new(Auth::bearer(token)).map_err(|e| e.to_string())?;
    let transport = StreamableHttpClientTransport::with_client(http, transport_config(url));
    serve_client_with_lifecycle((), transport, lifecycle())
        .await
        .map_err(|e| e.to_string())
}

fn transport_config(url: &str) -> StreamableHttpClientTransportConfig {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    config.allow_stateless = true;
    config.reinit_on_expired_session = true;
    config
}

async fn run(options: &Options) -> Result<(), String> {
    let auth = AuthServer::builder()
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let server = TestServer::builder()
        .protected_by(&auth)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let url = server.url();

    let oauth = signed_in(&url).await?;
    let token = oauth
        .token()
        .await
        .map_err(|e| e.to_string())?
        .expose_secret()
        .to_owned();

    let ours = Client::builder(&url)
        .auth(Auth::from(oauth))
        .timeout(TIMEOUT)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let bearer = Client::builder(&url)
        .auth(Auth::bearer(token.clone()))
        .timeout(TIMEOUT)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let layer = layer_client(&url, &token).await?;
    let rmcp = rmcp_client(&url, &token).await?;
    let control = rmcp_client(&url, &token).await?;

    let subjects = [
        (SUBJECTS[0], Subject::Ours(ours)),
        (SUBJECTS[1], Subject::Ours(bearer)),
        (SUBJECTS[2], Subject::Rmcp(layer)),
        (SUBJECTS[RMCP], Subject::Rmcp(rmcp)),
        (SUBJECTS[4], Subject::Rmcp(control)),
    ];
    if let Some(only) = &options.only {
        let times = only_one(&subjects, only, options).await?;
        println!(
            "{only}: {} rounds of {} concurrent call_tool(echo), median {:.1} ms",
            options.rounds,
            options.calls,
            median(times.iter().map(ms))
        );
    } else {
        compare(&subjects, options).await?;
        let rounds = options.dpop_rounds.unwrap_or(options.rounds);
        if rounds > 0 {
            dpop_cost(&subjects[0].1, options.calls, rounds).await?;
        }
    }
    for (_, subject) in subjects {
        subject.close().await;
    }
    server.stop().await;
    auth.stop().await;
    Ok(())
}

/// An OAuth helper for `url`, signed in: a browser follows the
/// authorization server's redirect (it approves at once) into the loopback
/// callback.
async fn signed_in(url: &str) -> Result<OAuth, String> {
    let browser = UserAgent::custom(|url| async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| mcp_oauth::Error::InvalidConfig {
                reason: e.to_string(),
            })?;
        let _ = http.get(url).send().await;
        Ok(())
    });
    let oauth = OAuth::builder(url)
        .token_storage(MemoryTokenStorage::new())
        .user_agent(browser)
        .on_notice(|_| {})
        .build()
        .map_err(|e| e.to_string())?;
    oauth.login().await.map_err(|e| e.to_string())?;
    Ok(oauth)
}

/// Rounds through a client with a DPoP-bound token, against servers that
/// bind and check, interleaved with rounds of `bearer_oauth`; prints the
/// medians and the difference per call.
async fn dpop_cost(bearer_oauth: &Subject, calls: usize, rounds: usize) -> Result<(), String> {
    let auth = AuthServer::builder()
        .dpop(DpopPolicy::On)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let server = TestServer::builder()
        .protected_by(&auth)
        .dpop(DpopPolicy::On)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let url = server.url();
    let oauth = signed_in(&url).await?;
    if !auth.tokens().iter().all(|token| token.jkt.is_some()) {
        return Err("the DPoP server issued a bearer token".into());
    }
    let dpop = Subject::Ours(
        Client::builder(&url)
            .auth(Auth::from(oauth))
            .timeout(TIMEOUT)
            .connect()
            .await
            .map_err(|e| e.to_string())?,
    );
    round(&dpop, calls).await?;
    let (mut bearer_times, mut dpop_times) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        if r % 2 == 0 {
            bearer_times.push(round(bearer_oauth, calls).await?);
            dpop_times.push(round(&dpop, calls).await?);
        } else {
            dpop_times.push(round(&dpop, calls).await?);
            bearer_times.push(round(bearer_oauth, calls).await?);
        }
    }
    let (bearer, bound) = (
        median(bearer_times.iter().map(ms)),
        median(dpop_times.iter().map(ms)),
    );
    println!(
        "DPoP-bound OAuth {bound:.1} ms vs bearer OAuth {bearer:.1} ms per round of {calls} \
         ({rounds} rounds): {:+.1} us per request for a proof (made here, checked by the \
         test server)",
        (bound - bearer) * 1e3 / calls as f64
    );
    dpop.close().await;
    server.stop().await;
    auth.stop().await;
    Ok(())
}

/// `--only`: the rounds of one client, for a profile of it alone.
async fn only_one(
    subjects: &[(&str, Subject)],
    only: &str,
    options: &Options,
) -> Result<Vec<Duration>, String> {
    let Some((_, subject)) = subjects.iter().find(|(name, _)| *name == only) else {
        return Err(format!("no client named {only}"));
    };
    round(subject, options.calls).await?;
    let mut times = Vec::with_capacity(options.rounds);
    for _ in 0..options.rounds {
        times.push(round(subject, options.calls).await?);
    }
    Ok(times)
}

/// Rounds of every client, interleaved; prints the table.
async fn compare(subjects: &[(&str, Subject)], options: &Options) -> Result<(), String> {
    // Warm-up: connections opened, code paths paged in.
    for (_, subject) in subjects {
        round(subject, options.calls).await?;
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); subjects.len()];
    for r in 0..options.rounds {
        for k in 0..subjects.len() {
            // Rotate which client goes first in each round.
            let i = (k + r) % subjects.len();
            times[i].push(round(&subjects[i].1, options.calls).await?);
        }
    }

    let medians: Vec<f64> = times.iter().map(|t| median(t.iter().map(ms))).collect();
    // Each round's time over rmcp's in the same round: drift cancels out.
    let paired: Vec<f64> = times
        .iter()
        .map(|t| median(t.iter().zip(&times[RMCP]).map(|(a, b)| ms(a) / ms(b))))
        .collect();
    println!(
        "{} concurrent call_tool(echo) per round, {} rounds after a warm-up round",
        options.calls, options.rounds
    );
    println!(
        "{:<8} {:>10} {:>19} {:>9} {:>9} {:>15}",
        "client", "median ms", "min-max ms", "us/call", "vs rmcp", "paired vs rmcp"
    );
    for (i, (name, _)) in subjects.iter().enumerate() {
        let min = times[i].iter().min().map_or(0.0, ms);
        let max = times[i].iter().max().map_or(0.0, ms);
        println!(
            "{name:<8} {:>10.1} {:>19} {:>9.1} {:>8.3}x {:>14.3}x",
            medians[i],
            format!("{min:.1}-{max:.1}"),
            medians[i] * 1e3 / options.calls as f64,
            medians[i] / medians[RMCP],
            paired[i],
        );
    }
    println!(
        "result calls={} rounds={} oauth_ms={:.2} bearer_ms={:.2} layer_ms={:.2} rmcp_ms={:.2} \
         rmcp2_ms={:.2} oauth_paired={:.4} bearer_paired={:.4} layer_paired={:.4} \
         rmcp2_paired={:.4}",
        options.calls,
        options.rounds,
        medians[0],
        medians[1],
        medians[2],
        medians[RMCP],
        medians[4],
        paired[0],
        paired[1],
        paired[2],
        paired[4],
    );
    Ok(())
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut sorted: Vec<f64> = values.collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn ms(duration: &Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
