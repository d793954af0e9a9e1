//! The OAuth side of the fuzz entry points (see `crate::fuzzing`): the
//! `WWW-Authenticate` challenge, the metadata documents, the registration
//! and token answers, the loopback callback.

use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use url::Url;

use crate::{
    Error, ServerUrl,
    auth::oauth::{
        discovery::{
            MetadataSource, ResourceMetadata, auth_server_metadata_urls, check_resource,
            resource_metadata_urls, validate,
        },
        wire::{
            AuthorizationRequest, BearerChallenge, Fetched, authorization_url, check_issuer,
            choose_scope, parse_token_response, read_registration, union_scope,
        },
    },
    net::{is_loopback, require_secure},
    store::{AuthServerMetadata, Registration, RegistrationKind, Tokens},
};

/// The MCP servers answers are checked against: with a path, a bare origin,
/// plain http on loopback.
const SERVERS: [&str; 3] = [
    "https://mcp.example.com/public/mcp",
    "https://mcp.example.com",
    "http://127.0.0.1:8080/mcp",
];

fn servers() -> impl Iterator<Item = ServerUrl> {
    SERVERS
        .into_iter()
        .map(|text| ServerUrl::parse(text).expect("a valid server URL"))
}

fn url(text: &str) -> Url {
    Url::parse(text).expect("a valid URL")
}

/// An HTTP answer: `NNN` and a newline give the status, the rest is the
/// body; without that first line the status is 200.
fn answer(data: &[u8]) -> Fetched {
    let status = match data {
        [a, b, c, b'\n', ..] if [a, b, c].iter().all(|digit| digit.is_ascii_digit()) => {
            let status = [a, b, c].iter().fold(0u16, |status, digit| {
                status * 10 + u16::from(**digit - b'0')
            });
            (status >= 100).then_some(status)
        }
        _ => None,
    };
    match status {
        Some(status) => Fetched {
            status,
            body: Bytes::copy_from_slice(&data[4..]),
            dpop: false,
            fresh_dpop_nonce: None,
        },
        None => Fetched {
            status: 200,
            body: Bytes::copy_from_slice(data),
            dpop: false,
            fresh_dpop_nonce: None,
        },
    }
}

/// What is kept in the credentials document reads back the same.
fn assert_round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
    let stored = serde_json::to_string(value).expect("serializable");
    let read: T = serde_json::from_str(&stored).expect("reads back");
    assert_eq!(&read, value, "stored as {stored}");
}

/// The values of `keys` in a JSON object answer that are marked as secrets
/// (they hold `SECRET`, as the seeds' do: the mark tells them from the
/// words of a message) and appear nowhere else in the answer (a message may
/// quote another field, and that field may hold the same text).
fn secrets_in(body: &[u8], keys: &[&str]) -> Vec<String> {
    fn strings<'a>(value: &'a Value, skip: &[&str], out: &mut Vec<&'a str>) {
        match value {
            Value::String(text) => out.push(text),
            Value::Array(items) => items.iter().for_each(|item| strings(item, skip, out)),
            Value::Object(map) => {
                for (key, item) in map {
                    out.push(key);
                    if !(skip.contains(&key.as_str()) && item.is_string()) {
                        strings(item, &[], out);
                    }
                }
            }
            _ => {}
        }
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let mut others = Vec::new();
    strings(&value, keys, &mut others);
    keys.iter()
        .filter_map(|key| value.get(key)?.as_str())
        .filter(|secret| secret.contains("SECRET"))
        .filter(|secret| !others.iter().any(|other| other.contains(*secret)))
        .map(str::to_owned)
        .collect()
}

fn assert_hidden(text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{secret:?} shown in {text:?}"
        );
    }
}

/// The `WWW-Authenticate` parser: the Bearer challenge written back in
/// canonical form reads the same, also behind another scheme's challenge,
/// and what the flow derives from it stays sound.
pub fn challenge(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = BearerChallenge::parse(header);
    assert_eq!(
        BearerChallenge::parse(header).is_some_and(|c| c.is_insufficient_scope()),
        parsed
            .as_ref()
            .is_some_and(BearerChallenge::is_insufficient_scope)
    );
    let Some(parsed) = parsed else {
        return;
    };
    let canonical = render_challenge(&parsed);
    assert_eq!(
        BearerChallenge::parse(&canonical).as_ref(),
        Some(&parsed),
        "{canonical:?}"
    );
    let behind = format!(r#"Basic realm="legacy", Negotiate, {canonical}"#);
    assert_eq!(
        BearerChallenge::parse(&behind).as_ref(),
        Some(&parsed),
        "{behind:?}"
    );

    // The metadata URLs to try: the announced one (anywhere; it is checked
    // when fetched), then the well-known ones on the server's origin.
    for server in servers() {
        let announced = parsed.resource_metadata.as_deref();
        let urls = resource_metadata_urls(&server, announced);
        let joined = announced.and_then(|text| server.url().join(text).ok());
        if let Some(joined) = &joined {
            assert_eq!(urls.first(), Some(joined));
        }
        let root = server.url().join("/.well-known/oauth-protected-resource");
        assert!(urls.contains(&root.expect("a URL")), "{urls:?}");
        for candidate in urls.iter().filter(|url| Some(*url) != joined.as_ref()) {
            assert_eq!(candidate.origin(), server.url().origin(), "{candidate}");
        }
    }

    // The scope asked for comes from the challenge (plus offline_access
    // where listed), without empty or repeated entries.
    let metadata = AuthServerMetadata {
        scopes_supported: Some(vec!["offline_access".into()]),
        ..metadata_for("https://as.example")
    };
    let challenged: Vec<&str> = parsed
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    match choose_scope(None, parsed.scope.as_deref(), None, &metadata) {
        Some(scope) => {
            assert!(!challenged.is_empty());
            for entry in scope.split(' ') {
                assert!(
                    entry == "offline_access" || challenged.contains(&entry),
                    "{scope:?}"
                );
            }
        }
        None => assert!(challenged.is_empty()),
    }
    if let Some(union) = union_scope(Some("read write"), parsed.scope.as_deref()) {
        let entries: Vec<&str> = union.split(' ').collect();
        assert!(entries.starts_with(&["read", "write"]), "{union:?}");
        for (index, entry) in entries.iter().enumerate() {
            assert!(!entry.is_empty() && !entries[..index].contains(entry));
        }
    }
}

/// The challenge as a server would write it, every value quoted.
fn render_challenge(challenge: &BearerChallenge) -> String {
    let mut out = String::from("Bearer");
    let params = [
        ("realm", &challenge.realm),
        ("error", &challenge.error),
        ("error_description", &challenge.error_description),
        ("scope", &challenge.scope),
        ("resource_metadata", &challenge.resource_metadata),
    ];
    let mut separator = " ";
    for (name, value) in params {
        let Some(value) = value else { continue };
        out.push_str(separator);
        separator = ", ";
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    if challenge.dpop {
        out.push_str(", DPoP");
        if let Some(error) = &challenge.dpop_error {
            out.push_str(" error=\"");
            for c in error.chars() {
                if matches!(c, '"' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
    }
    out
}

fn metadata_for(issuer: &str) -> AuthServerMetadata {
    serde_json::from_value(serde_json::json!({ "issuer": issuer })).expect("minimal metadata")
}

/// Protected resource metadata (RFC 9728): the `resource` check, and the
/// metadata URLs of each authorization server it names.
pub fn resource_metadata(data: &[u8]) {
    let Ok(prm) = answer(data).json::<ResourceMetadata>() else {
        return;
    };
    assert_round_trip(&prm);
    for server in servers() {
        match check_resource(&server, prm.resource.as_deref()) {
            Ok(resource) => {
                // The indicator is this server or a path prefix of it.
                let claimed = ServerUrl::parse(&resource).expect("a server URL");
                assert_eq!(claimed.url().origin(), server.url().origin(), "{resource}");
                let segments = |url: &Url| {
                    url.path()
                        .split('/')
                        .filter(|segment| !segment.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                };
                assert!(
                    segments(server.url()).starts_with(&segments(claimed.url())),
                    "{resource} is not a prefix of {server}"
                );
            }
            Err(error) => assert!(matches!(error, Error::ResourceMismatch { .. }), "{error}"),
        }
    }
    for issuer in &prm.authorization_servers {
        let Ok(issuer) = Url::parse(issuer) else {
            continue;
        };
        if require_secure(&issuer, "the authorization server").is_err() {
            continue;
        }
        // RFC 8414 §3.1 and OpenID Connect: well-known URLs on the issuer's
        // own origin, never elsewhere.
        let candidates = auth_server_metadata_urls(&issuer);
        assert!(!candidates.is_empty(), "{issuer}");
        for candidate in candidates {
            assert_eq!(
                candidate.origin(),
                issuer.origin(),
                "{issuer} -> {candidate}"
            );
            assert!(candidate.path().contains("/.well-known/"), "{candidate}");
        }
    }
}

/// Authorization server metadata (RFC 8414): validation, the authorization
/// URL built on its endpoint, the issuer check, the static client's method.
pub fn auth_server_metadata(data: &[u8]) {
    let Ok(metadata) = answer(data).json::<AuthServerMetadata>() else {
        return;
    };
    assert_round_trip(&metadata);
    for source in [
        MetadataSource::Discovered,
        MetadataSource::LegacyDocument,
        MetadataSource::LegacyDefaults,
    ] {
        if validate(&metadata, source).is_err() {
            continue;
        }
        if source != MetadataSource::LegacyDefaults {
            let methods = metadata.code_challenge_methods_supported.as_deref();
            assert!(methods.unwrap_or_default().iter().any(|m| m == "S256"));
        }
        let endpoints = [
            &metadata.authorization_endpoint,
            &metadata.token_endpoint,
            &metadata.registration_endpoint,
        ];
        for endpoint in endpoints.into_iter().flatten() {
            let endpoint = Url::parse(endpoint).expect("validated endpoints are URLs");
            assert!(
                endpoint.scheme() == "https"
                    || endpoint.scheme() == "http" && is_loopback(&endpoint),
                "{endpoint}"
            );
        }
    }

    // The authorization URL carries every parameter of ours, whatever the
    // endpoint already holds.
    let state = SecretString::from("s7aTe-0123456789abcdef".to_owned());
    let redirect_uri = url("http://127.0.0.1:4567/callback");
    let request = AuthorizationRequest {
        client_id: "client-id",
        redirect_uri: &redirect_uri,
        challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        state: &state,
        resource: Some("https://mcp.example.com/mcp"),
        scope: Some("read offline_access"),
    };
    if let Ok(authorize) = authorization_url(&metadata, &request) {
        let pairs: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
        for (name, value) in [
            ("response_type", "code"),
            ("client_id", request.client_id),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_challenge", request.challenge),
            ("code_challenge_method", "S256"),
            ("state", state.expose_secret()),
            ("resource", request.resource.unwrap_or_default()),
            ("scope", "read offline_access"),
            ("prompt", "consent"),
        ] {
            assert!(
                pairs.iter().any(|(n, v)| n == name && v == value),
                "{name} missing from {authorize}"
            );
        }
    }

    // RFC 9207.
    assert!(check_issuer(&metadata, Some(&metadata.issuer)).is_ok());
    assert_eq!(
        check_issuer(&metadata, None).is_ok(),
        !metadata.authorization_response_iss_parameter_supported
    );
    let other = format!("{}x", metadata.issuer);
    assert!(check_issuer(&metadata, Some(&other)).is_err());

    // A static client with a secret authenticates as the server allows.
    let secret = SecretString::from("static-secret".to_owned());
    let fixed = Registration::fixed("client-id", Some(secret), &metadata);
    assert!(
        ["client_secret_basic", "client_secret_post"]
            .contains(&fixed.token_endpoint_auth_method.as_str())
    );
    let scope = choose_scope(None, Some("read"), None, &metadata).expect("a scope");
    assert_eq!(
        scope.split(' ').any(|s| s == "offline_access"),
        metadata.supports_scope("offline_access"),
        "{scope:?}"
    );
}

/// A dynamic registration answer (RFC 7591).
pub fn registration_response(data: &[u8]) {
    let fetched = answer(data);
    let endpoint = url("https://as.example/register");
    let redirect_uri = url("http://127.0.0.1:4567/callback");
    let secrets = secrets_in(&fetched.body, &["client_secret"]);
    match read_registration(&endpoint, &fetched, Some(&redirect_uri)) {
        Ok(registration) => {
            assert!(fetched.is_success());
            assert_eq!(registration.kind, RegistrationKind::Dynamic);
            assert!(registration.fits_redirect(&redirect_uri));
            if registration.client_secret.is_some() {
                assert_ne!(registration.token_endpoint_auth_method, "");
            }
            // What Debug shows does not depend on the secret.
            let mut other = registration.clone();
            other.client_secret = Some(SecretString::from("other".to_owned()));
            if registration.client_secret.is_some() {
                assert_eq!(format!("{registration:?}"), format!("{other:?}"));
            }

            let stored = serde_json::to_string(&registration).expect("serializable");
            let read: Registration = serde_json::from_str(&stored).expect("reads back");
            assert_eq!(read.client_id, registration.client_id);
            assert_eq!(
                read.client_secret.as_ref().map(ExposeSecret::expose_secret),
                registration
                    .client_secret
                    .as_ref()
                    .map(ExposeSecret::expose_secret)
            );
            assert_eq!(
                read.client_secret_expires_at,
                registration.client_secret_expires_at
            );
            assert_eq!(
                read.token_endpoint_auth_method,
                registration.token_endpoint_auth_method
            );
            assert_eq!(read.redirect_uri, registration.redirect_uri);
            assert_eq!(read.kind, registration.kind);
        }
        Err(error) => {
            assert!(matches!(error, Error::Registration { .. }), "{error:?}");
            if fetched.is_success() {
                // A registration answer may carry a secret: never quoted.
                assert_hidden(&error.to_string(), &secrets);
            }
        }
    }
}

/// A token endpoint answer (RFC 6749 §5): with and without earlier tokens
/// to fall back on.
pub fn token_response(data: &[u8]) {
    let fetched = answer(data);
    let endpoint = url("https://as.example/token");
    let secrets = secrets_in(&fetched.body, &["access_token", "refresh_token"]);
    let body: Option<Value> = serde_json::from_slice(&fetched.body).ok();
    let previous = Tokens::new(
        SecretString::from("previous-access-token".to_owned()),
        Some(SecretString::from("previous-refresh-token".to_owned())),
        Some("previous scope".into()),
        100_000,
        Some(900),
    );
    for previous in [None, Some(&previous)] {
        match parse_token_response(&endpoint, &fetched, previous) {
            Ok(tokens) => {
                assert!(fetched.is_success());
                assert!(!tokens.access_token.expose_secret().is_empty());
                // Whatever was answered, what is kept can go into a header
                // and onto a terminal: no space, control or non-ASCII byte.
                assert!(
                    (tokens.access_token.expose_secret().bytes()).all(|b| b.is_ascii_graphic())
                );
                if let Some(refresh) = &tokens.refresh_token {
                    let bytes = refresh.expose_secret().bytes();
                    assert!(bytes.into_iter().all(|b| (0x20..=0x7e).contains(&b)));
                }
                assert_eq!(tokens.token_type, "Bearer");
                if let Some(expires_at) = tokens.expires_at {
                    assert!(expires_at >= tokens.received_at, "{tokens:?}");
                    let expires_ms = tokens.expires_at_ms.expect("kept in milliseconds too");
                    let received_ms = tokens.received_at_ms.expect("kept in milliseconds too");
                    assert!(expires_ms >= received_ms, "{tokens:?}");
                    let _ = tokens.is_fresh(received_ms);
                }
                let refresh = tokens
                    .refresh_token
                    .as_ref()
                    .map(ExposeSecret::expose_secret);
                // A refresh answer may omit the refresh token: the old one stays.
                if let Some(Value::Object(body)) = &body {
                    let answered = body
                        .get("refresh_token")
                        .and_then(Value::as_str)
                        .filter(|token| !token.is_empty());
                    match (answered, previous) {
                        (Some(answered), _) => assert_eq!(refresh, Some(answered)),
                        (None, Some(_)) => assert_eq!(refresh, Some("previous-refresh-token")),
                        (None, None) => assert_eq!(refresh, None),
                    }
                }
                // What Debug shows does not depend on the tokens.
                let mut other = tokens.clone();
                other.access_token = SecretString::from("other".to_owned());
                other.refresh_token =
                    (tokens.refresh_token.as_ref()).map(|_| SecretString::from("other".to_owned()));
                assert_eq!(format!("{tokens:?}"), format!("{other:?}"));

                let stored = serde_json::to_string(&tokens).expect("serializable");
                let read: Tokens = serde_json::from_str(&stored).expect("reads back");
                assert_eq!(
                    read.access_token.expose_secret(),
                    tokens.access_token.expose_secret()
                );
                assert_eq!(
                    read.refresh_token.as_ref().map(ExposeSecret::expose_secret),
                    refresh
                );
                assert_eq!(read.scope, tokens.scope);
                assert_eq!(read.expires_at, tokens.expires_at);
                assert_eq!(read.received_at, tokens.received_at);
                assert_eq!(read.expires_at_ms, tokens.expires_at_ms);
                assert_eq!(read.received_at_ms, tokens.received_at_ms);
            }
            Err(error) => {
                assert!(
                    matches!(
                        error,
                        Error::TokenEndpoint { .. }
                            | Error::OAuthAnswer {
                                step: crate::OAuthStep::Token,
                                ..
                            }
                    ),
                    "{error:?}"
                );
                assert_hidden(&error.to_string(), &secrets);
            }
        }
    }
}

/// A request on the loopback callback server (`GET /callback?...`, as in
/// a request line, or just the target), and the same text pasted.
pub fn callback_request(data: &[u8]) {
    crate::auth::oauth::callback::fuzz::request(data);
}
