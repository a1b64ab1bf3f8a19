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

pub mod peer;
mod pkcs12;
mod stores;
mod suites;
pub mod x509;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use jute_codec::Id;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;

use crate::config::{ClientAuth, TlsOptions};

pub use peer::PeerTls;

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
/// certificate becomes an identity. The stores are read again when their files change
/// ([`Reloads::reload_if_changed`]): new connections get the new certificate, open ones
/// keep theirs.
pub struct ClientTls {
    stores: Reloading<Built>,
    client_auth: ClientAuth,
    x509_super_user: Option<String>,
    handshakes: Option<Arc<tokio::sync::Semaphore>>,
}

/// What one reading of the client port's stores built.
#[derive(Clone)]
struct Built {
    acceptor: tokio_rustls::TlsAcceptor,
    served: CertificateSummary,
    protocols: Vec<String>,
    suites: Vec<String>,
}

impl Serves for Built {
    fn served(&self) -> &CertificateSummary {
        &self.served
    }
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("served", &self.served())
            .field("client_auth", &self.client_auth)
            .finish()
    }
}

/// A handshake slot (`netty.server.outstandingHandshake.limit`), held until the handshake ends.
pub type HandshakeSlot = Option<tokio::sync::OwnedSemaphorePermit>;

impl ClientTls {
    /// Loads the stores and builds the server's TLS configuration.
    pub fn new(options: &TlsOptions) -> Result<ClientTls, TlsError> {
        Ok(ClientTls {
            stores: Reloading::new(options, build_client_port, "the client port")?,
            client_auth: options.client_auth,
            x509_super_user: options.x509_super_user.clone(),
            handshakes: options
                .handshake_limit
                .map(|n| Arc::new(tokio::sync::Semaphore::new(n))),
        })
    }

    /// The acceptor for one handshake (the newest certificate).
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        self.stores.get().acceptor
    }

    /// Times the stores were read again after a change.
    pub fn reloads(&self) -> u64 {
        self.stores.reloads()
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
        let mut ids = vec![Id {
            scheme: "x509".into(),
            id: Some(subject.clone()),
        }];
        if self.x509_super_user.as_deref() == Some(subject.as_str()) {
            ids.push(Id {
                scheme: "super".into(),
                id: Some(subject),
            });
        }
        Ok(ids)
    }

    /// The served certificate's subject and expiry.
    pub fn served(&self) -> CertificateSummary {
        self.stores.get().served
    }

    /// One line for the start-up log: what is served and how.
    pub fn describe(&self) -> String {
        let built = self.stores.get();
        format!(
            "certificate {} (expires at unix {}), protocols {}, suites {}, client certificates {}",
            built.served.subject,
            built.served.not_after,
            built.protocols.join(","),
            built.suites.join(","),
            match self.client_auth {
                ClientAuth::Need => "required",
                ClientAuth::Want => "asked for",
                ClientAuth::None => "not asked for",
            }
        )
    }
}

impl Reloads for ClientTls {
    fn reload_if_changed(&self) -> bool {
        self.stores.reload_if_changed()
    }
}

/// Something whose TLS stores are read again when their files change.
pub trait Reloads: Send + Sync + 'static {
    /// Reads the stores again if one of their files changed since the last reading. A new
    /// reading that fails leaves the served certificate as it was (and is logged). Returns
    /// true when a new certificate is served.
    fn reload_if_changed(&self) -> bool;
}

/// Reads the stores again every `every` while the member runs (ZooKeeper reloads only its
/// quorum certificates, and only with `sslQuorumReloadCertFiles`; raftzk both, always, so a
/// renewed certificate needs no restart).
pub async fn watch_stores<T: Reloads>(tls: Arc<T>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let tls = tls.clone();
        // File reads and a key parse: off the runtime's worker threads.
        let _ = tokio::task::spawn_blocking(move || tls.reload_if_changed()).await;
    }
}

/// A built TLS configuration that names the certificate it serves.
trait Serves: Clone + Send + Sync + 'static {
    fn served(&self) -> &CertificateSummary;
}

/// A TLS configuration built from store files and built again when they change.
struct Reloading<B> {
    options: TlsOptions,
    build: fn(&TlsOptions) -> Result<B, TlsError>,
    /// What the stores secure, for the log.
    what: &'static str,
    current: RwLock<B>,
    stamp: Mutex<Vec<FileStamp>>,
    reloads: AtomicU64,
}

/// A store file's modification time and length, to notice a new one.
type FileStamp = Option<(std::time::SystemTime, u64)>;

impl<B: Serves> Reloading<B> {
    fn new(
        options: &TlsOptions,
        build: fn(&TlsOptions) -> Result<B, TlsError>,
        what: &'static str,
    ) -> Result<Reloading<B>, TlsError> {
        let stamp = stamps(options);
        let built = build(options)?;
        Ok(Reloading {
            options: options.clone(),
            build,
            what,
            current: RwLock::new(built),
            stamp: Mutex::new(stamp),
            reloads: AtomicU64::new(0),
        })
    }

    fn get(&self) -> B {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    fn reload_if_changed(&self) -> bool {
        let now = stamps(&self.options);
        {
            let mut stamp = self
                .stamp
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *stamp == now {
                return false;
            }
            *stamp = now;
        }
        match (self.build)(&self.options) {
            Ok(built) => {
                tracing::info!(
                    secures = self.what,
                    subject = %built.served().subject,
                    not_after = built.served().not_after,
                    "TLS stores changed: new connections get the new certificate"
                );
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = built;
                self.reloads.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::warn!(secures = self.what, error = %e, "TLS stores changed but cannot be served; the certificate served before stays");
                false
            }
        }
    }
}

/// The stamps of every file the stores are read from.
fn stamps(options: &TlsOptions) -> Vec<FileStamp> {
    [
        &options.key_store.location,
        &options.key_store.password_path,
        &options.trust_store.location,
        &options.trust_store.password_path,
    ]
    .into_iter()
    .map(|path| {
        let meta = std::fs::metadata(path.as_ref()?).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    })
    .collect()
}

/// What one reading of a key store and trust store gives, checked and ready to build
/// configurations from.
struct Material {
    key_store: stores::KeyStore,
    /// The trust store's certificates as anchors (None: no trust store named).
    roots: Option<Arc<RootCertStore>>,
    served: CertificateSummary,
    provider: Arc<rustls::crypto::CryptoProvider>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
    suite_names: Vec<String>,
}

/// Reads the stores and settles the protocols and suites.
fn read_material(options: &TlsOptions) -> Result<Material, TlsError> {
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
    let roots = match trust {
        None => None,
        Some(certs) => {
            let mut roots = RootCertStore::empty();
            for cert in certs {
                roots.add(cert).map_err(|e| TlsError {
                    key: stores::TRUST_STORE.location,
                    reason: format!("a certificate cannot be a trust anchor: {e}"),
                })?;
            }
            Some(Arc::new(roots))
        }
    };
    let base = ring_provider();
    let (cipher_suites, versions) = suites::select(options, &base, suites::versions(options)?)?;
    let suite_names = cipher_suites.iter().map(suites::java_name).collect();
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites,
        ..base
    });
    Ok(Material {
        key_store,
        roots,
        served,
        provider,
        versions,
        suite_names,
    })
}

impl Material {
    /// The configuration of the accepting side: client certificates per `client_auth`.
    fn server_config(&self, client_auth: ClientAuth) -> Result<rustls::ServerConfig, TlsError> {
        let builder = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|e| TlsError {
                key: "ssl.enabledProtocols",
                reason: e.to_string(),
            })?;
        let builder = match client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            auth => {
                let Some(roots) = self.roots.clone() else {
                    return Err(TlsError {
                        key: stores::TRUST_STORE.location,
                        reason: format!(
                            "clientAuth={} checks certificates against a trust store: name one, or set clientAuth=none",
                            if auth == ClientAuth::Need { "need" } else { "want" }
                        ),
                    });
                };
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots, self.provider.clone());
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
            .with_single_cert(self.key_store.chain.clone(), self.key_store.key.clone_key())
            .map_err(|e| TlsError {
                key: stores::KEY_STORE.location,
                reason: format!("the key and certificate cannot serve: {e}"),
            })?;
        // The server's suite order decides, as in ZooKeeper's JSSE.
        config.ignore_client_order = true;
        Ok(config)
    }

    fn protocol_names(&self) -> Vec<String> {
        self.versions
            .iter()
            .map(|v| format!("{:?}", v.version))
            .collect()
    }
}

/// Reads the client port's stores and builds its acceptor.
fn build_client_port(options: &TlsOptions) -> Result<Built, TlsError> {
    let material = read_material(options)?;
    let config = material.server_config(options.client_auth)?;
    Ok(Built {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        protocols: material.protocol_names(),
        served: material.served,
        suites: material.suite_names,
    })
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
