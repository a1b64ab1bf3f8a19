//! TLS to the server's secure client port (`--tls-ca`, with `--tls-cert`/`--tls-key` for a
//! client certificate): one client configuration for the whole run, so the cost measured is
//! the server's handshake and record layer, as a Java or kazoo client would put on it.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

static CONNECTOR: OnceLock<tokio_rustls::TlsConnector> = OnceLock::new();

/// Sets TLS up for every session of this run.
pub fn configure(ca: &Path, cert: Option<&Path>, key: Option<&Path>) -> Result<(), String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read(ca)?) {
        let cert = cert.map_err(|e| format!("{}: {e}", ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    #[allow(deprecated)] // ring: no C build; post-quantum groups are not what is measured
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(&read(cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_slice(&read(key)?)
                .map_err(|e| format!("{}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())?
        }
        _ => builder.with_no_client_auth(),
    };
    CONNECTOR
        .set(tokio_rustls::TlsConnector::from(Arc::new(config)))
        .map_err(|_| "TLS configured twice".to_string())
}

/// The run's TLS connector, if `--tls-ca` was given.
pub fn connector() -> Option<&'static tokio_rustls::TlsConnector> {
    CONNECTOR.get()
}

/// A TLS handshake over `stream`, checking the certificate against the server's IP.
pub async fn handshake(
    connector: &tokio_rustls::TlsConnector,
    stream: TcpStream,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let ip = stream.peer_addr()?.ip();
    connector
        .connect(ServerName::IpAddress(ip.into()), stream)
        .await
}
