//! Certificate authorities trusted besides the system's: a company's TLS
//! inspection proxy, a private CA of an enterprise network.

use std::{fmt, sync::Arc};

use tokio_rustls::rustls::pki_types::{CertificateDer, pem::PemObject};

use crate::{Error, Result};

/// Extra trust anchors, parsed from PEM once. The system's stay trusted.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct TrustAnchors(Arc<Vec<CertificateDer<'static>>>);

impl TrustAnchors {
    /// Adds the certificates of a PEM bundle; `what` names it in errors.
    pub(crate) fn add_pem(&mut self, pem: &[u8], what: &str) -> Result<()> {
        let invalid = |reason: &str| Error::InvalidConfig {
            reason: format!("{what} {reason}"),
        };
        let mut found = Vec::new();
        for certificate in CertificateDer::pem_slice_iter(pem) {
            found.push(certificate.map_err(|error| {
                invalid(&format!("is not a valid PEM certificate bundle: {error}"))
            })?);
        }
        if found.is_empty() {
            return Err(invalid(
                "holds no certificate (expected -----BEGIN CERTIFICATE----- blocks)",
            ));
        }
        Arc::make_mut(&mut self.0).extend(found);
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn certificates(&self) -> impl Iterator<Item = CertificateDer<'static>> + '_ {
        self.0.iter().cloned()
    }
}

impl fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustAnchors({} certificates)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_must_hold_certificates() {
        let mut anchors = TrustAnchors::default();
        let none = anchors.add_pem(b"hello", "--ca-cert x.pem").unwrap_err();
        assert!(
            none.to_string()
                .contains("--ca-cert x.pem holds no certificate"),
            "{none}"
        );
        let ca = include_bytes!("client/testdata/ca.der");
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, ca)
        );
        anchors.add_pem(pem.as_bytes(), "the bundle").unwrap();
        anchors.add_pem(pem.as_bytes(), "the bundle").unwrap();
        assert_eq!(format!("{anchors:?}"), "TrustAnchors(2 certificates)");
    }
}
