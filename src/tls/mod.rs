//! TLS on the client port as ZooKeeper 3.8 serves it (`secureClientPort`,
//! `client.portUnification`, `ssl.*`): the stores loaded and the server's TLS configuration
//! built once at start-up, so that a bad keystore, password or suite list stops the member
//! with one line naming the key; the client certificate turned into the connection's `x509`
//! identity.
//!
//! rustls with the ring provider (no C toolchain beyond what RocksDB needs). Differences from
//! ZooKeeper's JSSE, all on the stricter side: no TLS 1.0/1.1, no CBC suites, and a client
//! certificate must chain to a CA of the trust store (a self-signed client certificate listed
//! in the trust store itself is refused).

mod stores;
mod suites;
pub mod x509;

use std::sync::Arc;

use jute_codec::Id;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;

use crate::config::{ClientAuth, TlsOptions};

pub use x509::CertificateSummary;

/// A TLS setting that cannot be served: the key to blame and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct TlsError {
    /// The zoo.cfg key.
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// The client port's TLS: the acceptor every TLS connection goes through, and how a client
/// certificate becomes an identity.
pub struct ClientTls {
    acceptor: tokio_rustls::TlsAcceptor,
    handshakes: Option<Arc<tokio::sync::Semaphore>>,
    super_user: Option<String>,
    served: CertificateSummary,
    client_auth: ClientAuth,
    protocols: Vec<String>,
    suites: Vec<String>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("served", &self.served)
            .field("client_auth", &self.client_auth)
            .field("protocols", &self.protocols)
            .finish()
    }
}

/// A handshake slot (`netty.server.outstandingHandshake.limit`), held until the handshake ends.
pub type HandshakeSlot = Option<tokio::sync::OwnedSemaphorePermit>;

impl ClientTls {
    /// Loads the stores and builds the server's TLS configuration.
    pub fn new(options: &TlsOptions) -> Result<ClientTls, TlsError> {
        let key_store = stores::load_key_store(&options.key_store)?;
        let trust = stores::load_trust_store(&options.trust_store)?;
        let leaf = key_store.chain.first().ok_or_else(|| TlsError {
            key: stores::KEY_STORE.location,
            reason: "no certificate".into(),
        })?;
        let served = x509::summarize(leaf.as_ref()).map_err(|e| TlsError {
            key: stores::KEY_STORE.location,
            reason: e.to_string(),
        })?;

        let base = ring_provider();
        let (cipher_suites, versions) = suites::select(options, &base, suites::versions(options)?)?;
        let suite_names = cipher_suites.iter().map(suites::java_name).collect();
        let provider = Arc::new(rustls::crypto::CryptoProvider {
            cipher_suites,
            ..base
        });
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| TlsError {
                key: "ssl.enabledProtocols",
                reason: e.to_string(),
            })?;
        let builder = match options.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            auth => {
                let Some(certs) = trust else {
                    return Err(TlsError {
                        key: stores::TRUST_STORE.location,
                        reason: format!(
                            "ssl.clientAuth={} checks client certificates against a trust store: name one, or set ssl.clientAuth=none",
                            if auth == ClientAuth::Need { "need" } else { "want" }
                        ),
                    });
                };
                let mut roots = RootCertStore::empty();
                for cert in certs {
                    roots.add(cert).map_err(|e| TlsError {
                        key: stores::TRUST_STORE.location,
                        reason: format!("a certificate cannot be a trust anchor: {e}"),
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                let verifier = if auth == ClientAuth::Want {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier.build().map_err(|e| TlsError {
                    key: stores::TRUST_STORE.location,
                    reason: e.to_string(),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(key_store.chain, key_store.key)
            .map_err(|e| TlsError {
                key: stores::KEY_STORE.location,
                reason: format!("the key and certificate cannot serve: {e}"),
            })?;
        // The server's suite order decides, as in ZooKeeper's JSSE.
        config.ignore_client_order = true;
        Ok(ClientTls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            handshakes: options
                .handshake_limit
                .map(|n| Arc::new(tokio::sync::Semaphore::new(n))),
            super_user: options.x509_super_user.clone(),
            served,
            client_auth: options.client_auth,
            protocols: versions
                .iter()
                .map(|v| format!("{:?}", v.version))
                .collect(),
            suites: suite_names,
        })
    }

    /// The acceptor for one handshake.
    pub fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }

    /// A slot for one more handshake, or None when `netty.server.outstandingHandshake.limit`
    /// handshakes are under way (the connection is then closed).
    pub fn handshake_slot(&self) -> Option<HandshakeSlot> {
        match &self.handshakes {
            None => Some(None),
            Some(limit) => limit.clone().try_acquire_owned().ok().map(Some),
        }
    }

    /// The identities a verified client certificate chain gives: `x509:<subject>`, and
    /// `super` when the subject is `X509AuthenticationProvider.superUser`. None without a
    /// certificate; an error for one whose subject cannot be read.
    pub fn identities(
        &self,
        chain: Option<&[CertificateDer<'static>]>,
    ) -> Result<Vec<Id>, x509::X509Error> {
        let Some(leaf) = chain.and_then(|c| c.first()) else {
            return Ok(Vec::new());
        };
        let subject = x509::summarize(leaf.as_ref())?.subject;
        let mut ids = Vec::with_capacity(2);
        if self.super_user.as_deref() == Some(subject.as_str()) {
            ids.push(Id {
                scheme: "super".into(),
                id: Some(subject.clone()),
            });
        }
        ids.insert(
            0,
            Id {
                scheme: "x509".into(),
                id: Some(subject),
            },
        );
        Ok(ids)
    }

    /// The served certificate's subject and expiry.
    pub fn served(&self) -> &CertificateSummary {
        &self.served
    }

    /// One line for the start-up log: what is served and how.
    pub fn describe(&self) -> String {
        format!(
            "certificate {} (expires at unix {}), protocols {}, suites {}, client certificates {}",
            self.served.subject,
            self.served.not_after,
            self.protocols.join(","),
            self.suites.join(","),
            match self.client_auth {
                ClientAuth::Need => "required",
                ClientAuth::Want => "asked for",
                ClientAuth::None => "not asked for",
            }
        )
    }
}

/// rustls's ring provider. rustls 0.23.48 deprecates it for lacking post-quantum key
/// exchange; it is kept on purpose: ring needs no CMake/NASM build (aws-lc-rs does), and the
/// clients ZooKeeper users run (Java 17's JSSE, Python's OpenSSL 3.0) offer no post-quantum
/// groups either.
#[allow(deprecated)]
pub(crate) fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// True if the first bytes of a connection are a TLS handshake record (content type 22,
/// major version 3), the rule ZooKeeper's port unification applies: a ZooKeeper frame that
/// began with 0x16 would announce a length of over 369 MB, and four-letter words are ASCII.
pub fn looks_like_tls(first: &[u8]) -> bool {
    matches!(first, [0x16] | [0x16, 0x03, ..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_told_from_plaintext_by_its_first_bytes() {
        assert!(looks_like_tls(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(looks_like_tls(&[0x16]));
        assert!(!looks_like_tls(&[0x00, 0x00, 0x00, 0x2d, 0x00]));
        assert!(!looks_like_tls(b"ruok"));
        assert!(!looks_like_tls(&[0x16, 0x00]));
        assert!(!looks_like_tls(&[]));
    }
}
