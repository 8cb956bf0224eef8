//! HTTPS: the certificate the origin presents, and the rustls configuration that offers
//! HTTP/2 and HTTP/1.1 by ALPN.
//!
//! A real CDN edge speaks HTTP/2 over TLS, so a page multiplexes all its requests over one
//! connection; over plain HTTP/1.1 a browser opens six connections per origin and queues the
//! rest, which makes the origin look slower than it is. [`TlsIdentity`] is either a certificate
//! and key from PEM files (`--tls-cert`/`--tls-key`), or a self-signed one for loopback that
//! [`TlsIdentity::load_or_create`] keeps in a directory (`--tls-self-signed DIR`), so that its
//! SPKI hash — what Chromium's `--ignore-certificate-errors-spki-list` takes — stays the same
//! across restarts.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

/// ALPN protocols offered, preferred first.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Names a self-signed certificate is made for: every way a browser on this machine names a
/// loopback origin.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Files of [`TlsIdentity::load_or_create`]'s directory.
pub const CERT_FILE: &str = "cert.pem";
/// The private key (PKCS#8 PEM, mode 0600 on Unix).
pub const KEY_FILE: &str = "key.pem";
/// The base64 SHA-256 of the certificate's SubjectPublicKeyInfo, one line.
pub const SPKI_FILE: &str = "spki-sha256.txt";

/// Why a certificate could not be loaded or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate or key file cannot be read.
    #[error("cannot read {}: {}", .path.display(), mesh_site::io_reason(.source))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file holds no PEM certificate, or a certificate that does not parse.
    #[error("{what}: no PEM certificate ({source})")]
    Certificate {
        /// The file, or "the certificate".
        what: String,
        /// What the PEM parser said.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// A file holds no PEM private key.
    #[error("{what}: no PEM private key ({source})")]
    Key {
        /// The file, or "the key".
        what: String,
        /// What the PEM parser said.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The key is not usable, or is not the certificate's.
    #[error("the certificate and key do not go together: {0}")]
    Mismatch(#[source] rustls::Error),
    /// Making a self-signed certificate failed.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[source] rcgen::Error),
    /// Writing the generated certificate failed.
    #[error("cannot write {}: {}", .path.display(), mesh_site::io_reason(.source))]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// A certificate chain and its private key, checked to go together.
#[derive(Debug)]
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    spki_sha256: String,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            spki_sha256: self.spki_sha256.clone(),
        }
    }
}

/// The one crypto provider of the origin: ring, which rcgen uses as well. Passed explicitly so
/// that the process-wide default (unset, or another crate's) does not matter.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsIdentity {
    /// A certificate chain (leaf first) and a private key, both PEM.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        Self::from_pem_named(cert_pem, "the certificate", key_pem, "the key")
    }

    /// Reads `cert` (PEM chain, leaf first) and `key` (PEM private key).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })
        };
        Self::from_pem_named(
            &read(cert)?,
            &cert.display().to_string(),
            &read(key)?,
            &key.display().to_string(),
        )
    }

    fn from_pem_named(
        cert_pem: &[u8],
        cert_name: &str,
        key_pem: &[u8],
        key_name: &str,
    ) -> Result<Self, TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .and_then(|chain| {
                if chain.is_empty() {
                    Err(rustls::pki_types::pem::Error::NoItemsFound)
                } else {
                    Ok(chain)
                }
            })
            .map_err(|source| TlsError::Certificate {
                what: cert_name.to_owned(),
                source,
            })?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|source| TlsError::Key {
            what: key_name.to_owned(),
            source,
        })?;
        Self::from_der(chain, key)
    }

    /// Checks that `key` is usable and is the public key of `chain`'s leaf.
    fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let certified = CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider())
            .map_err(TlsError::Mismatch)?;
        // `from_der` compared this with the leaf's SubjectPublicKeyInfo, byte for byte.
        let spki = certified.key.public_key().ok_or(TlsError::Mismatch(
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown),
        ))?;
        let spki_sha256 =
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki.as_ref()));
        Ok(Self {
            chain,
            key,
            spki_sha256,
        })
    }

    /// A fresh self-signed certificate (ECDSA P-256) for `names` (DNS names or IP addresses),
    /// with its certificate and key as PEM.
    pub fn self_signed(names: &[String]) -> Result<(Self, String, String), TlsError> {
        let rcgen::CertifiedKey { cert, key_pair } =
            rcgen::generate_simple_self_signed(names.to_vec()).map_err(TlsError::Generate)?;
        let (cert_pem, key_pem) = (cert.pem(), key_pair.serialize_pem());
        let identity = Self::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?;
        Ok((identity, cert_pem, key_pem))
    }

    /// The self-signed certificate kept in `dir`: [`CERT_FILE`] and [`KEY_FILE`] when both
    /// exist, else a new one for `names`, written there. Either way [`SPKI_FILE`] is
    /// (re)written. To make a new certificate (other names), delete the directory.
    pub fn load_or_create(dir: &Path, names: &[String]) -> Result<Self, TlsError> {
        let (cert, key, spki) = (dir.join(CERT_FILE), dir.join(KEY_FILE), dir.join(SPKI_FILE));
        let identity = if cert.is_file() && key.is_file() {
            Self::from_pem_files(&cert, &key)?
        } else {
            let (identity, cert_pem, key_pem) = Self::self_signed(names)?;
            let write_err = |path: &Path| {
                let path = path.to_owned();
                move |source| TlsError::Write { path, source }
            };
            std::fs::create_dir_all(dir).map_err(write_err(dir))?;
            write_private(&key, key_pem.as_bytes()).map_err(write_err(&key))?;
            std::fs::write(&cert, cert_pem).map_err(write_err(&cert))?;
            identity
        };
        std::fs::write(&spki, format!("{}\n", identity.spki_sha256)).map_err(|source| {
            TlsError::Write {
                path: spki.clone(),
                source,
            }
        })?;
        Ok(identity)
    }

    /// Base64 of the SHA-256 of the leaf's SubjectPublicKeyInfo: the value of Chromium's
    /// `--ignore-certificate-errors-spki-list` (and of HTTP public key pins).
    pub fn spki_sha256(&self) -> &str {
        &self.spki_sha256
    }

    /// The certificate chain, leaf first (DER): what a client adds as a trusted root when the
    /// certificate is self-signed.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The rustls server configuration: TLS 1.2 and 1.3, no client certificates, ALPN
    /// [`ALPN_PROTOCOLS`].
    pub(crate) fn server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Mismatch)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(TlsError::Mismatch)?;
        config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn loopback() -> Vec<String> {
        LOOPBACK_NAMES.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn spki_hash_is_of_the_certificate_key() {
        let (identity, _, key_pem) = TlsIdentity::self_signed(&loopback()).unwrap();
        let key = rcgen::KeyPair::from_pem(&key_pem).unwrap();
        let expected =
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(key.public_key_der()));
        assert_eq!(identity.spki_sha256(), expected);
        assert_eq!(identity.spki_sha256().len(), 44);
        let config = identity.server_config().unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (_, cert_a, _) = TlsIdentity::self_signed(&loopback()).unwrap();
        let (_, _, key_b) = TlsIdentity::self_signed(&loopback()).unwrap();
        let err = TlsIdentity::from_pem(cert_a.as_bytes(), key_b.as_bytes()).unwrap_err();
        assert!(matches!(err, TlsError::Mismatch(_)), "{err}");
    }

    #[test]
    fn files_without_pem_are_refused() {
        let (_, cert, key) = TlsIdentity::self_signed(&loopback()).unwrap();
        let err = TlsIdentity::from_pem(b"not pem", key.as_bytes()).unwrap_err();
        assert!(matches!(err, TlsError::Certificate { .. }), "{err}");
        let err = TlsIdentity::from_pem(cert.as_bytes(), cert.as_bytes()).unwrap_err();
        assert!(matches!(err, TlsError::Key { .. }), "{err}");
    }

    #[test]
    fn the_directory_keeps_the_same_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let first = TlsIdentity::load_or_create(&tls, &loopback()).unwrap();
        let again = TlsIdentity::load_or_create(&tls, &loopback()).unwrap();
        assert_eq!(first.spki_sha256(), again.spki_sha256());
        assert_eq!(first.chain(), again.chain());
        let written = std::fs::read_to_string(tls.join(SPKI_FILE)).unwrap();
        assert_eq!(written.trim_end(), first.spki_sha256());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(tls.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
