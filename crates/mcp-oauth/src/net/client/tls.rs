//! TLS as reqwest sets it up: rustls with the aws-lc-rs provider, the
//! platform's verifier and roots, HTTP/2 offered through ALPN.

use std::sync::Arc;

use tokio_rustls::rustls::{self, ClientConfig, crypto::CryptoProvider};

/// The TLS settings of one client: towards servers, and towards an `https`
/// proxy (no ALPN there: a proxy speaks HTTP/1.1 for `CONNECT`).
#[derive(Debug, Clone)]
pub(super) struct Tls {
    pub(super) server: Arc<ClientConfig>,
    pub(super) proxy: Arc<ClientConfig>,
}

impl Tls {
    /// Trusts what the system trusts. Loading its roots is most of a short
    /// run's start-up, which is why a client that never needs TLS skips this.
    /// `extra` are trusted besides (a company's CA); the system's roots stay.
    pub(super) fn platform(extra: &super::super::TrustAnchors) -> Result<Self, rustls::Error> {
        let provider = provider();
        let verifier = if extra.is_empty() {
            rustls_platform_verifier::Verifier::new(provider.clone())?
        } else {
            rustls_platform_verifier::Verifier::new_with_extra_roots(
                extra.certificates(),
                provider.clone(),
            )?
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Self::from_config(config))
    }

    /// Trusts `roots` alone: for tests against a server of their own.
    #[cfg(test)]
    pub(super) fn trusting(roots: rustls::RootCertStore) -> Self {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the provider's protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self::from_config(config)
    }

    fn from_config(config: ClientConfig) -> Self {
        let proxy = Arc::new(config.clone());
        let mut server = config;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Self {
            server: Arc::new(server),
            proxy,
        }
    }
}

/// The process's chosen provider if the program installed one, else
/// aws-lc-rs (as reqwest does).
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}
