//! Where a server may send the client: the guard against an MCP server that
//! names an authorization server (or metadata, or endpoints) on an address
//! it has no business pointing at, such as the user's own machine, the
//! local network or a cloud metadata service (server-side request forgery).
//!
//! The decision is made on the URL alone, before any request: a host given
//! as an IP literal is classified; `localhost` and `*.localhost` are
//! loopback; any other name counts as public. Names that resolve to private
//! addresses are not caught here; they still need https, which the
//! metadata services of clouds do not offer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::{Error, Result};

/// The kind of network a URL's host lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// This machine: `127.0.0.0/8`, `::1`, `localhost`.
    Loopback,
    /// A local network: `10/8`, `172.16/12`, `192.168/16`, `100.64/10`, `fc00::/7`.
    Private,
    /// A link: `169.254/16` (where clouds keep their metadata service), `fe80::/10`.
    LinkLocal,
    /// Not a host one talks to: unspecified, multicast, broadcast, reserved.
    Unroutable,
    /// Anything else, including every name other than `localhost`.
    Public,
}

impl Reach {
    fn describe(self) -> &'static str {
        match self {
            Self::Loopback => "a loopback address (this machine)",
            Self::Private => "a private network address",
            Self::LinkLocal => "a link-local address",
            Self::Unroutable => "an address that is not routable",
            Self::Public => "a public address",
        }
    }
}

/// Where `url`'s host lives, judged from the URL alone.
pub(crate) fn reach(url: &Url) -> Reach {
    match url.host() {
        Some(Host::Ipv4(ip)) => reach_of_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => reach_of_ip(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                Reach::Loopback
            } else {
                Reach::Public
            }
        }
        None => Reach::Unroutable,
    }
}

/// Where an IP address lives.
pub(crate) fn reach_of_ip(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(ip) => reach_of_v4(ip),
        IpAddr::V6(ip) => reach_of_v6(ip),
    }
}

fn reach_of_v4(ip: Ipv4Addr) -> Reach {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Reach::Loopback
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        // 100.64.0.0/10 is carrier-grade NAT space: not the public internet.
        Reach::Private
    } else if ip.is_link_local() {
        Reach::LinkLocal
    } else if a == 0 || ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Reach::Unroutable
    } else {
        Reach::Public
    }
}

fn reach_of_v6(ip: Ipv6Addr) -> Reach {
    // An IPv4 address in IPv6 clothes is judged as IPv4 (::ffff:a.b.c.d,
    // and the NAT64 prefix 64:ff9b::/96).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return reach_of_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b, c, d] = ip.octets();
        return reach_of_v4(Ipv4Addr::new(a, b, c, d));
    }
    let first = segments[0];
    if ip.is_loopback() {
        Reach::Loopback
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        // Unique local fc00::/7, and the old site-local fec0::/10.
        Reach::Private
    } else if first & 0xffc0 == 0xfe80 {
        Reach::LinkLocal
    } else if ip.is_unspecified() || ip.is_multicast() {
        Reach::Unroutable
    } else {
        Reach::Public
    }
}

/// Whether the MCP server at `resource` may send the client to `target`
/// (its authorization server, a metadata document, an endpoint), checked
/// before any request goes there. `what` names the target in the error.
///
/// - A loopback resource may name anything: it runs on this machine.
/// - Otherwise the target must be public, or on the same kind of network
///   as the resource (a server on a private network may use an
///   authorization server there). Loopback is never allowed for a
///   resource that is not itself on loopback.
/// - An `https` resource never leads to a plain `http` target.
pub(crate) fn check_target(resource: &Url, target: &Url, what: &str) -> Result<()> {
    if resource.scheme() == "https" && target.scheme() != "https" {
        return Err(Error::Insecure {
            url: target.to_string(),
            reason: format!(
                "{what} uses {}:// but the MCP server {resource} uses https://; \
                 refusing to downgrade",
                target.scheme()
            ),
        });
    }
    let from = reach(resource);
    let to = reach(target);
    let allowed = from == Reach::Loopback
        || to == Reach::Public
        || (to == from && matches!(to, Reach::Private | Reach::LinkLocal));
    if allowed {
        return Ok(());
    }
    Err(Error::Insecure {
        url: target.to_string(),
        reason: format!(
            "{what} is on {}, but the MCP server {resource} is on {}; \
             refusing to send any request there",
            to.describe(),
            from.describe()
        ),
    })
}

/// Whether `url`'s host is loopback: the guard's one judgement of it.
pub(crate) fn is_loopback(url: &Url) -> bool {
    reach(url) == Reach::Loopback
}

/// No plain `http` except to loopback.
pub(crate) fn require_secure(url: &Url, what: &str) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        scheme => Err(Error::Insecure {
            url: url.to_string(),
            reason: format!("{what} must use https (got {scheme}://), except on loopback"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn addresses_are_classified() {
        for (text, expected) in [
            ("http://127.0.0.1/", Reach::Loopback),
            ("http://127.9.9.9/", Reach::Loopback),
            ("http://[::1]/", Reach::Loopback),
            ("http://localhost/", Reach::Loopback),
            ("http://LOCALHOST./", Reach::Loopback),
            ("http://as.localhost/", Reach::Loopback),
            ("http://[::ffff:127.0.0.1]/", Reach::Loopback),
            // Decimal and hexadecimal spellings are IPv4 literals too.
            ("http://2130706433/", Reach::Loopback),
            ("http://0x7f.1/", Reach::Loopback),
            ("http://10.0.0.1/", Reach::Private),
            ("http://10.255.255.255/", Reach::Private),
            ("http://172.16.0.1/", Reach::Private),
            ("http://172.31.255.254/", Reach::Private),
            ("http://192.168.1.1/", Reach::Private),
            ("http://100.64.0.1/", Reach::Private),
            ("http://[fc00::1]/", Reach::Private),
            ("http://[fd12:3456::1]/", Reach::Private),
            ("http://[::ffff:10.1.2.3]/", Reach::Private),
            ("http://[64:ff9b::a00:1]/", Reach::Private),
            ("http://169.254.169.254/", Reach::LinkLocal),
            ("http://[fe80::1]/", Reach::LinkLocal),
            ("http://[febf::1]/", Reach::LinkLocal),
            ("http://0.0.0.0/", Reach::Unroutable),
            ("http://[::]/", Reach::Unroutable),
            ("http://224.0.0.1/", Reach::Unroutable),
            ("http://255.255.255.255/", Reach::Unroutable),
            ("http://[ff02::1]/", Reach::Unroutable),
            ("http://172.32.0.1/", Reach::Public),
            ("http://172.15.255.255/", Reach::Public),
            ("http://100.128.0.1/", Reach::Public),
            ("http://8.8.8.8/", Reach::Public),
            ("http://[2001:4860:4860::8888]/", Reach::Public),
            ("http://auth.example.com/", Reach::Public),
            ("http://localhost.example.com/", Reach::Public),
        ] {
            assert_eq!(reach(&url(text)), expected, "{text}");
        }
    }

    #[test]
    fn a_public_resource_may_only_name_public_targets() {
        let resource = url("https://mcp.example.com/mcp");
        assert!(check_target(&resource, &url("https://auth.example.com"), "x").is_ok());
        assert!(check_target(&resource, &url("https://8.8.8.8"), "x").is_ok());
        for bad in [
            "https://127.0.0.1:9000",
            "https://localhost",
            "https://[::1]",
            "https://10.0.0.1",
            "https://172.16.5.4",
            "https://192.168.0.10",
            "https://[fd00::1]",
            "https://169.254.169.254",
            "https://[fe80::1]",
            "https://0.0.0.0",
        ] {
            let error = check_target(&resource, &url(bad), "the authorization server").unwrap_err();
            let Error::Insecure { url, reason } = &error else {
                panic!("{bad}: {error:?}");
            };
            assert!(url.starts_with(bad), "{bad}: {url}");
            assert!(
                reason.contains("the authorization server is on"),
                "{reason}"
            );
            assert!(reason.contains("mcp.example.com"), "{reason}");
        }
    }

    #[test]
    fn loopback_targets_only_for_loopback_resources() {
        let local = url("http://127.0.0.1:8000/mcp");
        for target in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "https://10.0.0.1",
            "https://auth.example.com",
        ] {
            assert!(check_target(&local, &url(target), "x").is_ok(), "{target}");
        }
        let private = url("http://10.0.0.5/mcp");
        assert!(check_target(&private, &url("http://10.0.0.6"), "x").is_ok());
        assert!(check_target(&private, &url("http://192.168.0.6"), "x").is_ok());
        assert!(check_target(&private, &url("http://127.0.0.1:9000"), "x").is_err());
        assert!(check_target(&private, &url("http://169.254.169.254"), "x").is_err());
        let public_http = url("http://mcp.example.com:8000/mcp");
        let error = check_target(&public_http, &url("http://127.0.0.1:9000"), "x").unwrap_err();
        assert!(error.to_string().contains("loopback"), "{error}");
    }

    #[test]
    fn an_https_resource_never_leads_to_plain_http() {
        let resource = url("https://mcp.example.com/mcp");
        let error = check_target(
            &resource,
            &url("http://auth.example.com"),
            "the authorization server",
        )
        .unwrap_err();
        assert!(matches!(error, Error::Insecure { .. }), "{error:?}");
        assert!(error.to_string().contains("downgrade"), "{error}");
        // Even on loopback: the resource chose TLS.
        let local_tls = url("https://localhost:8443/mcp");
        assert!(check_target(&local_tls, &url("http://127.0.0.1:9000"), "x").is_err());
        let plain = url("http://127.0.0.1:8000/mcp");
        assert!(check_target(&plain, &url("https://127.0.0.1:9000"), "x").is_ok());
    }
}
