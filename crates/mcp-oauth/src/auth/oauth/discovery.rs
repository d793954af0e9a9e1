//! Discovery: the protected resource metadata (RFC 9728) and the
//! authorization server metadata (RFC 8414, OpenID Connect Discovery), in
//! the order the MCP specification gives, with the 2025-03-26 fallbacks.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{
    http::OAuthHttp,
    wire::{self, BearerChallenge},
};
pub(crate) use crate::store::AuthServerMetadata;
use crate::{
    Error, Result, ServerUrl,
    net::{check_target, is_loopback, require_secure},
};

/// RFC 9728 protected resource metadata, the fields we use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResourceMetadata {
    #[serde(default)]
    pub(crate) resource: Option<String>,
    #[serde(default)]
    pub(crate) authorization_servers: Vec<String>,
    #[serde(default)]
    pub(crate) scopes_supported: Option<Vec<String>>,
    /// RFC 9728 §2: the resource takes DPoP proofs with these algorithms.
    #[serde(default, deserialize_with = "crate::store::lenient_strings")]
    pub(crate) dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// RFC 9728 §2: the resource takes DPoP-bound tokens only.
    #[serde(default, deserialize_with = "crate::store::lenient_bool")]
    pub(crate) dpop_bound_access_tokens_required: Option<bool>,
}

/// Where the authorization server metadata came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetadataSource {
    /// A metadata document named through the protected resource metadata.
    Discovered,
    /// 2025-03-26: a document at the MCP server's origin, no PRM.
    LegacyDocument,
    /// 2025-03-26: no metadata at all; default endpoints at the origin.
    LegacyDefaults,
}

/// The outcome of discovery.
#[derive(Debug, Clone)]
pub(crate) struct Discovery {
    /// The `resource` indicator to send (RFC 8707).
    pub(crate) resource: String,
    pub(crate) resource_metadata: Option<ResourceMetadata>,
    pub(crate) metadata: AuthServerMetadata,
    pub(crate) source: MetadataSource,
}

/// Runs discovery for `server`, starting from its 401 challenge if any.
pub(crate) async fn discover(
    http: &OAuthHttp,
    server: &ServerUrl,
    challenge: Option<&BearerChallenge>,
) -> Result<Discovery> {
    let announced = challenge.and_then(|c| c.resource_metadata.as_deref());
    let Some(prm) = fetch_resource_metadata(http, server, announced).await? else {
        return legacy(http, server).await;
    };
    let resource = check_resource(server, prm.resource.as_deref())?;
    let mut last_error = None;
    for issuer in &prm.authorization_servers {
        match fetch_auth_server_metadata(http, server, issuer).await {
            Ok(metadata) => {
                validate(&metadata, MetadataSource::Discovered)?;
                check_endpoints(server, &metadata)?;
                return Ok(Discovery {
                    resource,
                    resource_metadata: Some(prm),
                    metadata,
                    source: MetadataSource::Discovered,
                });
            }
            // A wrong issuer is an attack signal, not a reason to try the next.
            Err(error @ Error::Insecure { .. }) => return Err(error),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| Error::Discovery {
        url: server.to_string(),
        reason: "the protected resource metadata names no authorization server".into(),
    }))
}

/// The candidate URLs of the protected resource metadata, in order.
pub(crate) fn resource_metadata_urls(server: &ServerUrl, announced: Option<&str>) -> Vec<Url> {
    let base = server.url();
    let mut urls = Vec::new();
    if let Some(announced) = announced.and_then(|text| base.join(text).ok()) {
        urls.push(announced);
    }
    let path = base.path().trim_end_matches('/');
    if !path.is_empty()
        && let Ok(url) = base.join(&format!("/.well-known/oauth-protected-resource{path}"))
    {
        urls.push(url);
    }
    if let Ok(url) = base.join("/.well-known/oauth-protected-resource") {
        urls.push(url);
    }
    urls.dedup();
    urls
}

async fn fetch_resource_metadata(
    http: &OAuthHttp,
    server: &ServerUrl,
    announced: Option<&str>,
) -> Result<Option<ResourceMetadata>> {
    for url in resource_metadata_urls(server, announced) {
        let foreign = url.origin() != server.url().origin();
        if foreign && url.scheme() != "https" && !is_loopback(&url) {
            tracing::debug!(%url, "skipping resource metadata on a plain-http foreign origin");
            continue;
        }
        if foreign {
            check_target(server.url(), &url, "the protected resource metadata")?;
        }
        let fetched = http
            .get_json(&url)
            .await
            .map_err(|error| discovery_error(&url, &error))?;
        if fetched.status >= 500 && fetched.status != 502 {
            return Err(Error::Discovery {
                url: url.to_string(),
                reason: format!("HTTP {}", fetched.status),
            });
        }
        if !fetched.is_success() {
            tracing::debug!(%url, status = fetched.status, "no resource metadata here");
            continue;
        }
        match fetched.json::<ResourceMetadata>() {
            Ok(metadata) if !metadata.authorization_servers.is_empty() => {
                tracing::debug!(%url, "found protected resource metadata");
                return Ok(Some(metadata));
            }
            Ok(_) => tracing::debug!(%url, "resource metadata without authorization servers"),
            Err(error) => tracing::debug!(%url, %error, "resource metadata is not valid JSON"),
        }
    }
    Ok(None)
}

/// The candidate metadata URLs of an issuer (RFC 8414 §3.1, then OpenID
/// Connect with path insertion, then appending).
pub(crate) fn auth_server_metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    // The path is set, not joined: joined, an issuer path such as
    // `//other.example` would name another host.
    let at = |path: String| {
        let mut url = issuer.clone();
        url.set_path(&path);
        url.set_query(None);
        url.set_fragment(None);
        url
    };
    if path.is_empty() {
        vec![
            at("/.well-known/oauth-authorization-server".into()),
            at("/.well-known/openid-configuration".into()),
        ]
    } else {
        vec![
            at(format!("/.well-known/oauth-authorization-server{path}")),
            at(format!("/.well-known/openid-configuration{path}")),
            at(format!("{path}/.well-known/openid-configuration")),
        ]
    }
}

async fn fetch_auth_server_metadata(
    http: &OAuthHttp,
    server: &ServerUrl,
    issuer: &str,
) -> Result<AuthServerMetadata> {
    let issuer_url = Url::parse(issuer).map_err(|error| Error::Discovery {
        url: issuer.to_owned(),
        reason: format!("the authorization server {issuer:?} is not a URL: {error}"),
    })?;
    require_secure(&issuer_url, "the authorization server")?;
    // Before any request: a server must not point the client at addresses
    // it has no business on.
    check_target(server.url(), &issuer_url, "the authorization server")?;
    let mut tried = Vec::new();
    for url in auth_server_metadata_urls(&issuer_url) {
        let fetched = http
            .get_json(&url)
            .await
            .map_err(|error| discovery_error(&url, &error))?;
        if fetched.status >= 500 && fetched.status != 502 {
            return Err(Error::Discovery {
                url: url.to_string(),
                reason: format!("HTTP {}", fetched.status),
            });
        }
        if !fetched.is_success() {
            tried.push(format!("{url} answered {}", fetched.status));
            continue;
        }
        let metadata = match fetched.json::<AuthServerMetadata>() {
            Ok(metadata) => metadata,
            Err(error) => {
                tried.push(format!("{url} is not metadata ({error})"));
                continue;
            }
        };
        // RFC 8414 §3.3: a document for another issuer must not be used.
        if metadata.issuer != issuer {
            return Err(Error::Insecure {
                url: url.to_string(),
                reason: format!(
                    "the metadata names the issuer {:?}, not {issuer:?}",
                    metadata.issuer
                ),
            });
        }
        return Ok(metadata);
    }
    Err(Error::Discovery {
        url: issuer.to_owned(),
        reason: format!(
            "no authorization server metadata found ({})",
            tried.join("; ")
        ),
    })
}

/// 2025-03-26: no protected resource metadata; the MCP server's origin is
/// the authorization server.
async fn legacy(http: &OAuthHttp, server: &ServerUrl) -> Result<Discovery> {
    let origin = server.url().join("/").map_err(|error| Error::Discovery {
        url: server.to_string(),
        reason: error.to_string(),
    })?;
    let url = origin
        .join("/.well-known/oauth-authorization-server")
        .map_err(|error| Error::Discovery {
            url: server.to_string(),
            reason: error.to_string(),
        })?;
    let fetched = http
        .get_json(&url)
        .await
        .map_err(|error| discovery_error(&url, &error))?;
    let (metadata, source) = match fetched.json::<AuthServerMetadata>() {
        Ok(metadata) if fetched.is_success() => (metadata, MetadataSource::LegacyDocument),
        _ if fetched.status >= 500 && fetched.status != 502 => {
            return Err(Error::Discovery {
                url: url.to_string(),
                reason: format!("HTTP {}", fetched.status),
            });
        }
        _ => {
            tracing::debug!(%server, "no metadata at all: 2025-03-26 default endpoints");
            (
                AuthServerMetadata::legacy_defaults(&origin),
                MetadataSource::LegacyDefaults,
            )
        }
    };
    validate(&metadata, source)?;
    check_endpoints(server, &metadata)?;
    Ok(Discovery {
        resource: server.to_string(),
        resource_metadata: None,
        metadata,
        source,
    })
}

/// The PRM `resource` must be this server, or an origin/path prefix of it
/// (a bare origin is common for a `/mcp` endpoint). Returns the resource
/// indicator to use.
pub(crate) fn check_resource(server: &ServerUrl, resource: Option<&str>) -> Result<String> {
    let Some(resource) = resource else {
        return Ok(server.to_string());
    };
    let mismatch = || Error::ResourceMismatch {
        server: server.to_string(),
        resource: resource.to_owned(),
    };
    let claimed = ServerUrl::parse(resource).map_err(|_| mismatch())?;
    if claimed.url().origin() != server.url().origin() {
        return Err(mismatch());
    }
    let claimed_path = claimed.url().path().trim_end_matches('/');
    let server_path = server.url().path().trim_end_matches('/');
    let is_prefix = server_path == claimed_path
        || server_path
            .strip_prefix(claimed_path)
            .is_some_and(|rest| rest.starts_with('/'));
    if !is_prefix {
        return Err(mismatch());
    }
    Ok(claimed.to_string())
}

pub(crate) fn validate(metadata: &AuthServerMetadata, source: MetadataSource) -> Result<()> {
    let issuer = &metadata.issuer;
    if source != MetadataSource::LegacyDefaults {
        let methods = metadata
            .code_challenge_methods_supported
            .as_deref()
            .unwrap_or_default();
        if !methods.iter().any(|method| method == "S256") {
            return Err(Error::Insecure {
                url: issuer.clone(),
                reason: "the authorization server does not offer PKCE with S256".into(),
            });
        }
    }
    if let Some(types) = &metadata.response_types_supported
        && !types.iter().any(|t| t == "code")
    {
        return Err(Error::Discovery {
            url: issuer.clone(),
            reason: "the authorization server does not support the authorization code flow".into(),
        });
    }
    // Each endpoint present is read as every later use reads it.
    if metadata.authorization_endpoint.is_some() {
        wire::authorization_endpoint(metadata)?;
    }
    if metadata.token_endpoint.is_some() {
        wire::token_endpoint(metadata)?;
    }
    if metadata.registration_endpoint.is_some() {
        wire::registration_endpoint(metadata)?;
    }
    Ok(())
}

/// The endpoints the client sends requests to must be where the MCP server
/// may send it (see [`check_target`]); the authorization endpoint is only
/// opened in the browser.
fn check_endpoints(server: &ServerUrl, metadata: &AuthServerMetadata) -> Result<()> {
    for (name, endpoint) in [
        ("the token endpoint", &metadata.token_endpoint),
        ("the registration endpoint", &metadata.registration_endpoint),
        (
            "the device authorization endpoint",
            &metadata.device_authorization_endpoint,
        ),
    ] {
        if let Some(url) = endpoint.as_deref().and_then(|text| Url::parse(text).ok()) {
            check_target(server.url(), &url, name)?;
        }
    }
    Ok(())
}

/// A failed metadata request as a discovery error; a timeout and a refused
/// redirect keep their own kind, which says more.
fn discovery_error(url: &Url, error: &Error) -> Error {
    match error {
        Error::Timeout { .. } | Error::Insecure { .. } => error.clone(),
        // Already about this URL: its detail is the reason.
        Error::Protocol { url: at, detail } if at == url.as_str() => Error::Discovery {
            url: url.to_string(),
            reason: detail.clone(),
        },
        other => Error::Discovery {
            url: url.to_string(),
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: Vec<Url>) -> Vec<String> {
        list.into_iter().map(|url| url.to_string()).collect()
    }

    #[test]
    fn resource_metadata_order() {
        let server = ServerUrl::parse("https://mcp.example.com/public/mcp").unwrap();
        assert_eq!(
            urls(resource_metadata_urls(
                &server,
                Some("/custom/metadata.json")
            )),
            [
                "https://mcp.example.com/custom/metadata.json",
                "https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ]
        );
        let root = ServerUrl::parse("https://mcp.example.com").unwrap();
        assert_eq!(
            urls(resource_metadata_urls(&root, None)),
            ["https://mcp.example.com/.well-known/oauth-protected-resource"]
        );
    }

    #[test]
    fn auth_server_metadata_order_with_and_without_path() {
        let with_path = Url::parse("https://auth.example.com/tenant1").unwrap();
        assert_eq!(
            urls(auth_server_metadata_urls(&with_path)),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
        let origin = Url::parse("https://auth.example.com").unwrap();
        assert_eq!(
            urls(auth_server_metadata_urls(&origin)),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn metadata_urls_stay_on_the_issuer_origin() {
        // Found by fuzzing: the path `//other.example` once made the OpenID
        // Connect candidate `https://other.example/.well-known/...`.
        let issuer = Url::parse("https://auth.example.com//other.example").unwrap();
        assert_eq!(
            urls(auth_server_metadata_urls(&issuer)),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server//other.example",
                "https://auth.example.com/.well-known/openid-configuration//other.example",
                "https://auth.example.com//other.example/.well-known/openid-configuration",
            ]
        );
        let with_query = Url::parse("https://auth.example.com/t?x=1#f").unwrap();
        assert_eq!(
            urls(auth_server_metadata_urls(&with_query))[2],
            "https://auth.example.com/t/.well-known/openid-configuration"
        );
    }

    #[test]
    fn resource_must_be_this_server_or_a_prefix() {
        let server = ServerUrl::parse("https://mcp.example.com/mcp").unwrap();
        assert_eq!(
            check_resource(&server, None).unwrap(),
            "https://mcp.example.com/mcp"
        );
        assert_eq!(
            check_resource(&server, Some("https://mcp.example.com")).unwrap(),
            "https://mcp.example.com"
        );
        assert!(check_resource(&server, Some("https://mcp.example.com/mcp")).is_ok());
        for bad in [
            "https://evil.example.com/mcp",
            "https://mcp.example.com/other",
            "https://mcp.example.com/mc",
            "http://mcp.example.com/mcp",
            "not a url",
        ] {
            let error = check_resource(&server, Some(bad)).unwrap_err();
            assert!(
                matches!(error, Error::ResourceMismatch { .. }),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(require_secure(&Url::parse("http://127.0.0.1:9/token").unwrap(), "x").is_ok());
        assert!(require_secure(&Url::parse("https://a.example/token").unwrap(), "x").is_ok());
        let error =
            require_secure(&Url::parse("http://a.example/token").unwrap(), "x").unwrap_err();
        assert!(matches!(error, Error::Insecure { .. }));
    }

    #[test]
    fn endpoints_must_be_where_the_server_may_send_the_client() {
        let public = ServerUrl::parse("https://mcp.example.com/mcp").unwrap();
        let origin = Url::parse("https://auth.example.com").unwrap();
        let mut metadata = AuthServerMetadata::legacy_defaults(&origin);
        assert!(check_endpoints(&public, &metadata).is_ok());
        metadata.token_endpoint = Some("https://10.1.2.3/token".into());
        let error = check_endpoints(&public, &metadata).unwrap_err();
        assert!(matches!(error, Error::Insecure { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("the token endpoint is on a private network address"),
            "{error}"
        );
        metadata.token_endpoint = None;
        metadata.registration_endpoint = Some("https://169.254.169.254/register".into());
        assert!(check_endpoints(&public, &metadata).is_err());
        metadata.registration_endpoint = None;
        metadata.device_authorization_endpoint = Some("https://127.0.0.1/device".into());
        assert!(check_endpoints(&public, &metadata).is_err());
        // A server on this machine may use anything.
        let local = ServerUrl::parse("http://127.0.0.1:8000/mcp").unwrap();
        metadata.token_endpoint = Some("https://10.1.2.3/token".into());
        assert!(check_endpoints(&local, &metadata).is_ok());
    }

    #[test]
    fn metadata_without_s256_is_refused_unless_legacy_defaults() {
        let origin = Url::parse("https://auth.example.com").unwrap();
        let mut metadata = AuthServerMetadata::legacy_defaults(&origin);
        assert!(validate(&metadata, MetadataSource::LegacyDefaults).is_ok());
        assert!(validate(&metadata, MetadataSource::Discovered).is_err());
        metadata.code_challenge_methods_supported = Some(vec!["plain".into()]);
        assert!(validate(&metadata, MetadataSource::Discovered).is_err());
        metadata.code_challenge_methods_supported = Some(vec!["plain".into(), "S256".into()]);
        assert!(validate(&metadata, MetadataSource::Discovered).is_ok());
    }
}
