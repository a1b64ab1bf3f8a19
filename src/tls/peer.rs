//! TLS on the peer link (`sslQuorum=true`, `ssl.quorum.*`, `portUnification`) as ZooKeeper
//! 3.8 secures its quorum and election ports: every member both dials and accepts with its
//! own certificate, and checks the other's against the quorum trust store, so a member whose
//! certificate the others' CAs did not sign cannot take part (not as a voter, not as a
//! learner, not even to ask whether a group exists).
//!
//! Host names, as ZooKeeper's `ZKTrustManager` checks them with
//! `ssl.quorum.hostnameVerification=true` (the default): the dialled member's certificate
//! must name the address it was dialled at (the `server.N` host, or the IP it resolved to);
//! the dialling member's certificate must name the IP it dials from, or a `server.N` host
//! that resolves to that IP (raftzk's stand-in for Java's reverse-DNS lookup). The name
//! check runs right after the handshake, before a byte of the link's protocol.
//!
//! The stores are read again when their files change, like the client port's.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;

use super::{read_material, Reloading, Reloads, Serves, TlsError};
use crate::config::{QuorumTlsOptions, TlsOptions};

use super::CertificateSummary;

/// How long a peer has to finish its handshake (ZooKeeper's quorum connect timeout, 5 s).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often one address's failed handshakes are logged (a rogue member redials on every
/// heartbeat; each failure is counted in the metrics all the same).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The peer link's TLS: a connector for dialling members and an acceptor for their calls,
/// both built from the `ssl.quorum.*` stores.
pub struct PeerTls {
    stores: Reloading<PeerBuilt>,
    options: QuorumTlsOptions,
    /// The hosts of the `server.N` lines, for the accepting side's name check.
    member_hosts: Vec<String>,
    counters: HandshakeCounters,
    logged: Mutex<std::collections::HashMap<String, Instant>>,
}

/// Handshakes on the peer link, by side and outcome.
#[derive(Debug, Default)]
pub struct HandshakeCounters {
    /// Completed as the dialling member.
    pub dialled: AtomicU64,
    /// Failed as the dialling member (the handshake, or the dialled member's name).
    pub dial_failed: AtomicU64,
    /// Completed as the accepting member.
    pub accepted: AtomicU64,
    /// Failed as the accepting member (plaintext when TLS is required included).
    pub accept_failed: AtomicU64,
    /// Plaintext connections accepted on a unified peer port (`portUnification`).
    pub plaintext_accepted: AtomicU64,
}

/// What one reading of the quorum stores built.
#[derive(Clone)]
struct PeerBuilt {
    acceptor: tokio_rustls::TlsAcceptor,
    connector: tokio_rustls::TlsConnector,
    served: CertificateSummary,
}

impl Serves for PeerBuilt {
    fn served(&self) -> &CertificateSummary {
        &self.served
    }
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTls")
            .field("served", &self.served())
            .field("dials_tls", &self.options.enabled)
            .field("port_unification", &self.options.port_unification)
            .finish()
    }
}

/// A connection the peer link runs over once set up.
pub enum PeerStream {
    /// Plaintext (no `sslQuorum`, or a plaintext caller on a unified port).
    Plain(TcpStream),
    /// TLS, as the dialling member.
    Dialled(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// TLS, as the accepting member.
    Accepted(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// The reading half of a peer connection.
pub type PeerRead = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
/// The writing half of a peer connection (flush after writing: TLS buffers).
pub type PeerWrite = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

impl PeerStream {
    /// The connection as two halves, whatever it runs over.
    pub fn into_halves(self) -> (PeerRead, PeerWrite) {
        match self {
            PeerStream::Plain(tcp) => {
                let (read, write) = tcp.into_split();
                (Box::new(read), Box::new(write))
            }
            PeerStream::Dialled(tls) => {
                let (read, write) = tokio::io::split(*tls);
                (Box::new(read), Box::new(write))
            }
            PeerStream::Accepted(tls) => {
                let (read, write) = tokio::io::split(*tls);
                (Box::new(read), Box::new(write))
            }
        }
    }
}

impl PeerTls {
    /// Loads the quorum stores; `member_hosts` are the hosts of the `server.N` lines.
    pub fn new(options: &QuorumTlsOptions, member_hosts: Vec<String>) -> Result<PeerTls, TlsError> {
        Ok(PeerTls {
            stores: Reloading::new(&options.tls, build_peer_link, "the peer link")?,
            options: options.clone(),
            member_hosts,
            counters: HandshakeCounters::default(),
            logged: Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// The certificate this member presents.
    pub fn served(&self) -> CertificateSummary {
        self.stores.get().served
    }

    /// Times the stores were read again after a change.
    pub fn reloads(&self) -> u64 {
        self.stores.reloads()
    }

    /// The handshake counters.
    pub fn counters(&self) -> &HandshakeCounters {
        &self.counters
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        let served = self.served();
        format!(
            "certificate {} (expires at unix {}), dialling {}, accepting {}, host names {}",
            served.subject,
            served.not_after,
            if self.options.enabled {
                "TLS"
            } else {
                "plaintext"
            },
            match (self.options.enabled, self.options.port_unification) {
                (_, true) => "TLS and plaintext (portUnification)",
                (true, false) => "TLS only",
                (false, false) => "plaintext only",
            },
            if self.options.hostname_verification {
                "checked"
            } else {
                "not checked"
            }
        )
    }

    /// Sets up a connection this member dialled to `addr` (`host:port`): TLS with
    /// `sslQuorum`, else plaintext.
    pub async fn dial(&self, tcp: TcpStream, addr: &str) -> Result<PeerStream, String> {
        if !self.options.enabled {
            return Ok(PeerStream::Plain(tcp));
        }
        let outcome = self.dial_tls(tcp, addr).await;
        match &outcome {
            Ok(_) => self.counters.dialled.fetch_add(1, Ordering::Relaxed),
            Err(why) => {
                self.log_failure(addr, "dialling", why);
                self.counters.dial_failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        outcome
    }

    async fn dial_tls(&self, tcp: TcpStream, addr: &str) -> Result<PeerStream, String> {
        let host = host_of(addr);
        let connected_ip = tcp.peer_addr().map(|a| a.ip()).ok();
        // Names are checked below, against every form of the address; rustls needs one for
        // SNI only.
        let sni = ServerName::try_from(host.to_string())
            .or_else(|_| ServerName::try_from("raftzk-member"))
            .map_err(|e| e.to_string())?;
        let connector = self.stores.get().connector;
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(sni, tcp))
            .await
            .map_err(|_| "TLS handshake timed out".to_string())?
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        if self.options.hostname_verification {
            let leaf = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .ok_or("the member presented no certificate")?;
            let mut names: Vec<ServerName<'static>> = Vec::new();
            if let Ok(name) = ServerName::try_from(host.to_string()) {
                names.push(name);
            }
            names.extend(connected_ip.map(ServerName::from));
            check_names(leaf, &names)?;
        }
        Ok(PeerStream::Dialled(Box::new(stream)))
    }

    /// Sets up a connection a member dialled to this one: TLS with `sslQuorum`; on a unified
    /// port (`portUnification`) TLS or plaintext by the first bytes; else plaintext.
    pub async fn accept(&self, tcp: TcpStream, peer: SocketAddr) -> Result<PeerStream, String> {
        let tls = if self.options.port_unification {
            let mut first = [0u8; 1];
            let peeked = tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut first))
                .await
                .map_err(|_| "no bytes within the handshake timeout".to_string())?
                .map_err(|e| e.to_string())?;
            super::looks_like_tls(first.get(..peeked).unwrap_or_default())
        } else {
            self.options.enabled
        };
        if !tls {
            if self.options.port_unification {
                self.counters
                    .plaintext_accepted
                    .fetch_add(1, Ordering::Relaxed);
            }
            return Ok(PeerStream::Plain(tcp));
        }
        let outcome = self.accept_tls(tcp, peer).await;
        match &outcome {
            Ok(_) => self.counters.accepted.fetch_add(1, Ordering::Relaxed),
            Err(why) => {
                self.log_failure(&peer.ip().to_string(), "accepting", why);
                self.counters.accept_failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        outcome
    }

    async fn accept_tls(&self, tcp: TcpStream, peer: SocketAddr) -> Result<PeerStream, String> {
        let acceptor = self.stores.get().acceptor;
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
            .await
            .map_err(|_| "TLS handshake timed out".to_string())?
            .map_err(|e| format!("TLS handshake failed (plaintext from a member without sslQuorum, or a certificate the quorum trust store does not vouch for): {e}"))?;
        let leaf = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .cloned();
        // Without a certificate (ssl.quorum.clientAuth=want/none) there is no name to check.
        if let (true, Some(leaf)) = (self.options.hostname_verification, leaf) {
            let by_ip = [ServerName::from(peer.ip())];
            if check_names(&leaf, &by_ip).is_err() {
                let hosts = self.member_hosts_at(peer.ip()).await;
                check_names(&leaf, &hosts).map_err(|_| {
                    format!(
                        "the member's certificate names neither {} nor a server.N host at that address",
                        peer.ip()
                    )
                })?;
            }
        }
        Ok(PeerStream::Accepted(Box::new(stream)))
    }

    /// The `server.N` host names that resolve to `ip`.
    async fn member_hosts_at(&self, ip: IpAddr) -> Vec<ServerName<'static>> {
        let mut names = Vec::new();
        for host in &self.member_hosts {
            if host.parse::<IpAddr>().is_ok() {
                continue;
            }
            let Ok(found) = tokio::net::lookup_host((host.as_str(), 0)).await else {
                continue;
            };
            if found.into_iter().any(|a| a.ip() == ip) {
                if let Ok(name) = ServerName::try_from(host.clone()) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// A failed handshake, logged at most once per [`LOG_EVERY`] for one address.
    fn log_failure(&self, who: &str, side: &str, why: &str) {
        let now = Instant::now();
        let mut logged = self
            .logged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if logged
            .get(who)
            .is_some_and(|at| now.duration_since(*at) < LOG_EVERY)
        {
            return;
        }
        logged.insert(who.to_string(), now);
        tracing::warn!(
            peer = who,
            side,
            reason = why,
            "peer link refused: TLS between members failed (logged once per 10 s per address)"
        );
    }
}

impl Reloads for PeerTls {
    fn reload_if_changed(&self) -> bool {
        self.stores.reload_if_changed()
    }
}

/// `host` of `host:port` (`[v6]:port` too).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Ok if the certificate is valid for one of `names`.
fn check_names(leaf: &CertificateDer<'_>, names: &[ServerName<'_>]) -> Result<(), String> {
    let cert = ParsedCertificate::try_from(leaf).map_err(|e| e.to_string())?;
    if names
        .iter()
        .any(|name| rustls::client::verify_server_name(&cert, name).is_ok())
    {
        return Ok(());
    }
    Err(format!(
        "the member's certificate names none of {} (ssl.quorum.hostnameVerification)",
        names
            .iter()
            .map(|n| n.to_str().into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The quorum key for a client-port key named in a store or suite error.
fn quorum_key(key: &'static str) -> &'static str {
    match key {
        "ssl.keyStore.location" => "ssl.quorum.keyStore.location",
        "ssl.keyStore.password" => "ssl.quorum.keyStore.password",
        "ssl.keyStore.passwordPath" => "ssl.quorum.keyStore.passwordPath",
        "ssl.keyStore.type" => "ssl.quorum.keyStore.type",
        "ssl.trustStore.location" => "ssl.quorum.trustStore.location",
        "ssl.trustStore.password" => "ssl.quorum.trustStore.password",
        "ssl.trustStore.passwordPath" => "ssl.quorum.trustStore.passwordPath",
        "ssl.trustStore.type" => "ssl.quorum.trustStore.type",
        "ssl.protocol" => "ssl.quorum.protocol",
        "ssl.enabledProtocols" => "ssl.quorum.enabledProtocols",
        "ssl.ciphersuites" => "ssl.quorum.ciphersuites",
        "ssl.clientAuth" => "ssl.quorum.clientAuth",
        other => other,
    }
}

/// Reads the quorum stores and builds both sides of the link.
fn build_peer_link(options: &TlsOptions) -> Result<PeerBuilt, TlsError> {
    let quorum = |e: TlsError| TlsError {
        key: quorum_key(e.key),
        reason: e.reason,
    };
    let material = read_material(options).map_err(quorum)?;
    let server = material
        .server_config(options.client_auth)
        .map_err(quorum)?;
    let Some(roots) = material.roots.clone() else {
        return Err(TlsError {
            key: "ssl.quorum.trustStore.location",
            reason:
                "sslQuorum checks the other members' certificates against a trust store: name one"
                    .into(),
        });
    };
    let verifier = ChainOnly {
        roots,
        provider: material.provider.clone(),
    };
    let client = rustls::ClientConfig::builder_with_provider(material.provider.clone())
        .with_protocol_versions(&material.versions)
        .map_err(|e| TlsError {
            key: "ssl.quorum.enabledProtocols",
            reason: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(
            material.key_store.chain.clone(),
            material.key_store.key.clone_key(),
        )
        .map_err(|e| TlsError {
            key: "ssl.quorum.keyStore.location",
            reason: format!("the key and certificate cannot serve: {e}"),
        })?;
    Ok(PeerBuilt {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
        served: material.served,
    })
}

/// Checks a dialled member's chain against the quorum trust store, as rustls's own verifier
/// does, but not its name: that is checked after the handshake against every form of the
/// address (a `server.N` host or the IP it resolved to), and only with
/// `ssl.quorum.hostnameVerification`.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_cut_from_addresses() {
        assert_eq!(host_of("10.0.0.1:2888"), "10.0.0.1");
        assert_eq!(host_of("zk1.example:2888"), "zk1.example");
        assert_eq!(host_of("[::1]:2888"), "::1");
    }

    #[test]
    fn store_errors_name_the_quorum_keys() {
        assert_eq!(
            quorum_key("ssl.keyStore.location"),
            "ssl.quorum.keyStore.location"
        );
        assert_eq!(quorum_key("ssl.ciphersuites"), "ssl.quorum.ciphersuites");
        let missing = QuorumTlsOptions {
            enabled: true,
            ..QuorumTlsOptions::default()
        };
        let err = PeerTls::new(&missing, Vec::new()).unwrap_err();
        assert_eq!(err.key, "ssl.quorum.keyStore.location");
    }
}
