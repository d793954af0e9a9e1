//! Credentials from the command line: a static bearer token, or OAuth with
//! the options given; and the `login` command.

use std::time::Duration;

use mcp_oauth::{
    Auth, Client, CrossAppAccess, Error, OAuth, OAuthBuilder, SigningAlgorithm, UserAgent,
};
use serde_json::{Value, json};

use crate::{
    cli::{CallbackHostArg, GrantArg, Options},
    failure::{Exit, Failure},
    output::Output,
    spinner::Spinner,
};

/// The credentials for `url`: `--bearer` when given, else OAuth.
pub(crate) fn auth_for(options: &Options, url: &str) -> Result<Auth, Failure> {
    if let Some(token) = options
        .bearer
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return Ok(Auth::bearer(token));
    }
    Ok(Auth::from(oauth_for(options, url)?))
}

/// `--login-timeout`: how long a sign-in may take.
pub(crate) fn login_timeout(options: &Options) -> Result<Duration, Failure> {
    let seconds = options.login_timeout;
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0) {
        return Err(bad(
            "--login-timeout must be a number of seconds between 0 and 86400",
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// What every sign-in shares, the demo's included: how the person is
/// reached (browser, printed URL or device code), under what name, on which
/// callback address, and for how long.
pub(crate) fn sign_in_builder(options: &Options, url: &str) -> Result<OAuthBuilder, Failure> {
    let mut builder = Spinner::attach(OAuth::builder(url))
        .client_name(options.client_name.clone())
        .timeout(login_timeout(options)?)
        .user_agent(if options.no_browser {
            UserAgent::PrintUrl
        } else {
            UserAgent::SystemBrowser
        });
    if let Some(port) = options.callback_port {
        builder = builder.callback_port(port);
    }
    if options.callback_host == CallbackHostArg::Localhost {
        builder = builder.callback_host_localhost();
    }
    if options.device {
        builder = builder.device_authorization();
    }
    Ok(builder)
}

pub(crate) fn oauth_for(options: &Options, url: &str) -> Result<OAuth, Failure> {
    if options.device && options.grant != GrantArg::AuthorizationCode {
        return Err(bad(
            "--device is a way for a person to sign in; it does not go with --grant",
        ));
    }
    let mut builder = sign_in_builder(options, url)?;
    if let Some(scopes) = &options.scopes {
        builder = builder.scopes(scopes.as_str());
    }
    if let Some(dir) = &options.cache_dir {
        builder = builder.token_storage_cache_dir(dir);
    }
    if let Some(id) = &options.client_id {
        builder = builder.client_id(id);
    }
    if let Some(secret) = &options.client_secret {
        if options.client_id.is_none() {
            return Err(bad("--client-secret needs --client-id"));
        }
        builder = builder.client_secret(secret);
    }
    if let Some(url) = &options.client_metadata_url {
        builder = builder.client_metadata_url(url);
    }
    if let Some(text) = &options.client_metadata {
        match serde_json::from_str::<Value>(text) {
            Ok(value @ Value::Object(_)) => builder = builder.additional_client_metadata(value),
            _ => {
                return Err(bad(
                    "--client-metadata must be a JSON object, e.g. '{\"logo_uri\": \"https://...\"}'",
                ));
            }
        }
    }
    if let Some(path) = &options.private_key {
        let pem = std::fs::read_to_string(path).map_err(|error| {
            bad(&format!(
                "cannot read --private-key {}: {error}",
                path.display()
            ))
        })?;
        builder = builder.private_key_jwt(pem, options.signing_alg.parse::<SigningAlgorithm>()?);
    }
    builder = match options.grant {
        GrantArg::AuthorizationCode => builder,
        GrantArg::ClientCredentials => builder.client_credentials(),
        GrantArg::CrossAppAccess => {
            let (Some(endpoint), Some(id_token), Some(idp_client)) = (
                &options.idp_token_endpoint,
                &options.idp_id_token,
                &options.idp_client_id,
            ) else {
                return Err(bad(
                    "--grant cross-app-access needs --idp-token-endpoint, --idp-id-token and --idp-client-id",
                ));
            };
            let mut idp = CrossAppAccess::new(endpoint, id_token, idp_client);
            if let Some(secret) = &options.idp_client_secret {
                idp = idp.idp_client_secret(secret);
            }
            builder.cross_app_access(idp)
        }
    };
    if options.grant != GrantArg::AuthorizationCode && options.client_id.is_none() {
        return Err(bad("machine-to-machine grants need --client-id"));
    }
    Ok(builder.build()?)
}

async fn answers_without_credentials(options: &Options, url: &str) -> bool {
    let Ok(builder) = crate::configure(Client::builder(url), options) else {
        return false;
    };
    match builder.connect().await {
        Ok(client) => {
            let answered = client.ping().await.is_ok();
            client.close().await;
            answered
        }
        Err(_) => false,
    }
}

fn bad(message: &str) -> Failure {
    Failure::new(Exit::BadInput, message).hint("see mcp-oauth --help")
}

/// `mcp-oauth login <url>`: authorize now and show what was granted.
pub(crate) async fn login(options: &Options, url: &str, out: &mut Output) -> Result<(), Failure> {
    let oauth = oauth_for(options, url)?;
    if let Err(error) = oauth.login().await {
        // "No OAuth here" may just mean the server wants none: say that instead.
        if matches!(error, Error::Discovery { .. } | Error::Registration { .. })
            && answers_without_credentials(options, url).await
        {
            let note =
                format!("{url} answers without authorization: there is nothing to log in to.");
            return if options.json {
                out.json(&json!({ "server": url, "authorization_required": false }))
            } else {
                out.line(&note)
            };
        }
        return Err(error.into());
    }
    let stored = oauth.stored().await?;
    let issuer = stored.as_ref().and_then(|s| s.issuer()).unwrap_or("?");
    let scope = stored.as_ref().and_then(|s| s.scope()).unwrap_or("");
    let expires_at = stored.as_ref().and_then(|s| s.expires_at());
    let can_refresh = stored.as_ref().is_some_and(|s| s.can_refresh());
    if options.json {
        return out.json(&json!({
            "server": url,
            "issuer": issuer,
            "client_id": stored.as_ref().and_then(|s| s.client_id()),
            "scope": scope,
            "expires_at": expires_at,
            "can_refresh": can_refresh,
        }));
    }
    let expiry = match expires_at {
        Some(at) => format!("expires in {}", describe_seconds(at.saturating_sub(now()))),
        None => "no expiry given".to_owned(),
    };
    let scope = if scope.is_empty() {
        "no particular scope".to_owned()
    } else {
        format!("scope {scope}")
    };
    let refresh = if can_refresh {
        "refreshes automatically"
    } else {
        "no refresh token"
    };
    out.line(&format!(
        "Logged in to {url} via {issuer}: {scope}, {expiry}, {refresh}."
    ))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

pub(crate) fn describe_seconds(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds / 60),
        _ => format!("{} h", seconds / 3600),
    }
}
