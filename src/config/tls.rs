//! The TLS settings of the client port as zoo.cfg names them (`secureClientPort`,
//! `client.portUnification`, `ssl.*`): plain values here; `crate::tls` loads the stores and
//! builds the server's TLS configuration from them at start-up.

use std::path::PathBuf;

/// Whether the server asks for a client certificate (`ssl.clientAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// A client must present a certificate the truststore vouches for (ZooKeeper's default).
    #[default]
    Need,
    /// A certificate is asked for; a client without one connects with only its `ip` id, one
    /// with an untrusted certificate is refused.
    Want,
    /// No certificate is asked for.
    None,
}

impl ClientAuth {
    /// `need`, `want` or `none`, any case; empty is `need` (ZooKeeper's `ClientAuth.fromPropertyValue`).
    pub fn parse(value: &str) -> Result<ClientAuth, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "need" => Ok(ClientAuth::Need),
            "want" => Ok(ClientAuth::Want),
            "none" => Ok(ClientAuth::None),
            _ => Err("must be need, want or none".into()),
        }
    }
}

/// A key store or trust store as `ssl.keyStore.*` / `ssl.trustStore.*` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreOptions {
    /// `.location`: the file.
    pub location: Option<PathBuf>,
    /// `.password`.
    pub password: Option<String>,
    /// `.passwordPath`: a file holding the password; wins over `.password` (ZooKeeper 3.8).
    pub password_path: Option<PathBuf>,
    /// `.type`: PEM, PKCS12, JKS or BCFKS (any case); unset: from the file's extension.
    pub kind: Option<String>,
}

/// Everything zoo.cfg says about TLS on the client port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// `ssl.keyStore.*`: the server's key and certificate chain.
    pub key_store: StoreOptions,
    /// `ssl.trustStore.*`: the CAs client certificates are checked against.
    pub trust_store: StoreOptions,
    /// `ssl.clientAuth`.
    pub client_auth: ClientAuth,
    /// `ssl.protocol` (`TLSv1.2`): the protocol enabled when `ssl.enabledProtocols` is unset.
    pub protocol: String,
    /// `ssl.enabledProtocols`, a comma list (unset: `[ssl.protocol]`).
    pub enabled_protocols: Option<Vec<String>>,
    /// `ssl.ciphersuites`, a comma list of IANA/Java names (unset: ZooKeeper's defaults).
    pub ciphersuites: Option<Vec<String>>,
    /// `netty.server.outstandingHandshake.limit`: TLS handshakes in progress at once; more are
    /// closed (`tls_handshake_exceeded`). None: no limit (ZooKeeper's -1).
    pub handshake_limit: Option<usize>,
    /// `X509AuthenticationProvider.superUser`: the certificate subject that is `super`.
    pub x509_super_user: Option<String>,
}

impl Default for TlsOptions {
    fn default() -> TlsOptions {
        TlsOptions {
            key_store: StoreOptions::default(),
            trust_store: StoreOptions::default(),
            client_auth: ClientAuth::Need,
            protocol: "TLSv1.2".into(),
            enabled_protocols: None,
            ciphersuites: None,
            handshake_limit: None,
            x509_super_user: None,
        }
    }
}

/// TLS between members as zoo.cfg names it: `sslQuorum`, `portUnification` and the
/// `ssl.quorum.*` twins of the client port's `ssl.*` keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumTlsOptions {
    /// `sslQuorum`: members dial each other over mutual TLS and refuse plaintext.
    pub enabled: bool,
    /// `portUnification`: the peer port accepts TLS and plaintext alike, told apart by the
    /// first bytes (ZooKeeper's step for turning `sslQuorum` on in a running cluster).
    pub port_unification: bool,
    /// `ssl.quorum.keyStore.*`, `ssl.quorum.trustStore.*`, `ssl.quorum.clientAuth`, the
    /// protocols and suites. `handshake_limit` and `x509_super_user` have no quorum twin.
    pub tls: TlsOptions,
    /// `ssl.quorum.hostnameVerification`: a member's certificate must name the address it
    /// is dialled at or dials from (true, as in ZooKeeper).
    pub hostname_verification: bool,
}

impl Default for QuorumTlsOptions {
    fn default() -> QuorumTlsOptions {
        QuorumTlsOptions {
            enabled: false,
            port_unification: false,
            tls: TlsOptions::default(),
            hostname_verification: true,
        }
    }
}

impl QuorumTlsOptions {
    /// True if the peer port speaks TLS at all (always, or beside plaintext).
    pub fn in_use(&self) -> bool {
        self.enabled || self.port_unification
    }
}

/// A comma list as Java's `String.split(",")` then trim gives it, empties dropped.
pub fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_auth_values() {
        assert_eq!(ClientAuth::parse(""), Ok(ClientAuth::Need));
        assert_eq!(ClientAuth::parse("NEED"), Ok(ClientAuth::Need));
        assert_eq!(ClientAuth::parse("want"), Ok(ClientAuth::Want));
        assert_eq!(ClientAuth::parse("None"), Ok(ClientAuth::None));
        assert!(ClientAuth::parse("maybe").is_err());
    }

    #[test]
    fn comma_lists() {
        assert_eq!(
            comma_list(" TLSv1.3, TLSv1.2 ,"),
            vec!["TLSv1.3", "TLSv1.2"]
        );
        assert!(comma_list("").is_empty());
    }
}
