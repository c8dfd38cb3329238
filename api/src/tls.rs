//! TLS for `mpi serve` (rustls, with the ring provider): the certificate chain and key from PEM
//! files, and optionally a CA whose client certificates the server requires. HTTP/1.1 and
//! HTTP/2 are offered by ALPN. The HL7 v2 listener (`--mllp-tls-*`) loads its files the same
//! way, without ALPN. The client side of PMIR notifications (`fhir::notify`) trusts the web's
//! public roots and, with `--subscription-ca-file`, the CAs of one PEM file besides
//! ([`subscription_client_config`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// Why the TLS configuration could not be made (names the file, never its content).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// rustls refused the certificates or key.
    #[error("TLS configuration: {0}")]
    Config(String),
    /// Only one of `--tls-cert` and `--tls-key` was given, or a client CA without them.
    #[error("--tls-cert and --tls-key go together (and --tls-client-ca needs both)")]
    Incomplete,
}

/// The TLS files of `mpi serve`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM) of which a client must present a certificate; `None`: no client
    /// certificate asked for.
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// The files from the command line: `None` when TLS is off.
    pub fn from_args(
        cert: Option<&Path>,
        key: Option<&Path>,
        client_ca: Option<&Path>,
    ) -> Result<Option<TlsFiles>, TlsError> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: cert.to_owned(),
                key: key.to_owned(),
                client_ca: client_ca.map(Path::to_owned),
            })),
            (None, None) if client_ca.is_none() => Ok(None),
            _ => Err(TlsError::Incomplete),
        }
    }

    /// The rustls server configuration, offering `h2` and `http/1.1`.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let mut config = self.plain_config()?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// The rustls server configuration for HL7 v2 over MLLP (no ALPN: MLLP has no registered
    /// protocol id).
    pub fn mllp_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        self.plain_config()
    }

    fn plain_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let file_error = |path: &Path, why: String| TlsError::File {
            path: path.to_owned(),
            why,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect())
            .map_err(|e| file_error(&self.cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(file_error(&self.cert, "holds no certificate".to_owned()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| file_error(&self.key, format!("no private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(path)
                    .map_err(|e| file_error(path, e.to_string()))?
                {
                    let cert = cert.map_err(|e| file_error(path, e.to_string()))?;
                    roots
                        .add(cert)
                        .map_err(|e| file_error(path, e.to_string()))?;
                }
                if roots.is_empty() {
                    return Err(file_error(path, "holds no certificate".to_owned()));
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| TlsError::Config(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        builder
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Config(e.to_string()))
    }
}

/// The largest extra CA file for subscription deliveries (a whole public CA bundle is about
/// 250 KiB).
pub const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

/// The most certificates an extra CA file may hold.
pub const MAX_CA_CERTIFICATES: usize = 1000;

/// The rustls client configuration for PMIR deliveries to FHIR Subscription endpoints: the
/// public web PKI (Mozilla's roots, `webpki-roots`) and, when given, every certificate of
/// `extra_ca` (PEM, at most [`MAX_CA_FILE_BYTES`] and [`MAX_CA_CERTIFICATES`]) as a further
/// root, for an exchange whose endpoint a private CA signed. No client certificate; no ALPN
/// (HTTP/1.1).
pub fn subscription_client_config(
    extra_ca: Option<&Path>,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let file_error = |why: String| TlsError::File {
            path: path.to_owned(),
            why,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| file_error(e.to_string()))?
            .len();
        if size > MAX_CA_FILE_BYTES {
            return Err(file_error(format!(
                "is {size} bytes, more than the {MAX_CA_FILE_BYTES} a CA file may have"
            )));
        }
        let pem = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
        let mut added = 0usize;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| file_error(e.to_string()))?;
            added += 1;
            if added > MAX_CA_CERTIFICATES {
                return Err(file_error(format!(
                    "holds more than {MAX_CA_CERTIFICATES} certificates"
                )));
            }
            roots
                .add(cert)
                .map_err(|e| file_error(format!("certificate {added}: {e}")))?;
        }
        if added == 0 {
            return Err(file_error("holds no PEM certificate".to_owned()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
