//! Protocol versions and cipher suites from `ssl.protocol`, `ssl.enabledProtocols` and
//! `ssl.ciphersuites`, with ZooKeeper 3.8's defaults (TLSv1.2 only; its ECDHE suites, GCM
//! first) and Java's suite names mapped to rustls's.

use rustls::crypto::CryptoProvider;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use super::TlsError;
use crate::config::TlsOptions;

/// ZooKeeper's default suites on Java 9 and later, in its order. rustls has the four GCM
/// ones; it has no CBC suites (a client that offers only those cannot connect).
pub(super) const ZOOKEEPER_DEFAULT_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
];

/// The versions to offer: `ssl.enabledProtocols`, else `[ssl.protocol]`. `TLS` means both
/// 1.2 and 1.3; older versions are skipped (rustls has none) and logged.
pub(super) fn versions(
    options: &TlsOptions,
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let (key, names) = match &options.enabled_protocols {
        Some(list) => ("ssl.enabledProtocols", list.clone()),
        None => ("ssl.protocol", vec![options.protocol.clone()]),
    };
    let mut versions: Vec<&'static SupportedProtocolVersion> = Vec::new();
    for name in &names {
        let found: &[&'static SupportedProtocolVersion] = match name.as_str() {
            "TLSv1.3" => &[&rustls::version::TLS13],
            "TLSv1.2" => &[&rustls::version::TLS12],
            "TLS" => &[&rustls::version::TLS13, &rustls::version::TLS12],
            "TLSv1.1" | "TLSv1" | "SSLv3" => {
                tracing::warn!(key, protocol = %name, "protocol not offered: raftzk serves TLSv1.2 and TLSv1.3 only");
                &[]
            }
            _ => {
                return Err(TlsError {
                    key,
                    reason: format!("unknown protocol {name:?} (TLSv1.2, TLSv1.3)"),
                })
            }
        };
        for version in found {
            if !versions.iter().any(|v| v.version == version.version) {
                versions.push(version);
            }
        }
    }
    if versions.is_empty() {
        return Err(TlsError {
            key,
            reason: "no protocol raftzk can serve (TLSv1.2, TLSv1.3)".into(),
        });
    }
    Ok(versions)
}

/// rustls's name of a suite as Java spells it: TLS 1.3 suites are `TLS_AES_…` in Java and
/// `TLS13_AES_…` in rustls; TLS 1.2 names are the same.
fn rustls_name(java: &str) -> String {
    if java.starts_with("TLS_AES_") || java.starts_with("TLS_CHACHA20_") {
        java.replacen("TLS_", "TLS13_", 1)
    } else {
        java.to_string()
    }
}

/// The provider's suites named by `ssl.ciphersuites` (or ZooKeeper's defaults), in that
/// order; the versions are cut to those with a suite left. Names rustls lacks are skipped.
pub(super) fn select(
    options: &TlsOptions,
    provider: &CryptoProvider,
    versions: Vec<&'static SupportedProtocolVersion>,
) -> Result<
    (
        Vec<SupportedCipherSuite>,
        Vec<&'static SupportedProtocolVersion>,
    ),
    TlsError,
> {
    let names: Vec<String> = match &options.ciphersuites {
        Some(list) => list.clone(),
        None => ZOOKEEPER_DEFAULT_SUITES
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
    };
    let mut suites: Vec<SupportedCipherSuite> = Vec::new();
    for name in &names {
        let wanted = rustls_name(name);
        match provider
            .cipher_suites
            .iter()
            .find(|s| format!("{:?}", s.suite()) == wanted)
        {
            Some(suite) if !suites.contains(suite) => suites.push(*suite),
            Some(_) => {}
            None => tracing::debug!(suite = %name, "cipher suite not available in rustls; skipped"),
        }
    }
    let usable: Vec<&'static SupportedProtocolVersion> = versions
        .iter()
        .copied()
        .filter(|v| suites.iter().any(|s| s.version().version == v.version))
        .collect();
    for v in versions.iter().filter(|v| !usable.contains(v)) {
        tracing::warn!(protocol = ?v.version, "protocol not offered: no cipher suite of ssl.ciphersuites serves it");
    }
    if usable.is_empty() {
        return Err(TlsError {
            key: "ssl.ciphersuites",
            reason: format!(
                "no suite raftzk has serves the enabled protocols {:?} (available: {})",
                versions.iter().map(|v| v.version).collect::<Vec<_>>(),
                provider
                    .cipher_suites
                    .iter()
                    .map(java_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    suites.retain(|s| usable.iter().any(|v| v.version == s.version().version));
    Ok((suites, usable))
}

/// A suite's name as Java (and `ssl.ciphersuites`) spells it.
pub(super) fn java_name(suite: &SupportedCipherSuite) -> String {
    let name = format!("{:?}", suite.suite());
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn provider() -> CryptoProvider {
        crate::tls::ring_provider()
    }

    #[test]
    fn zookeepers_defaults_are_tls12_gcm() {
        let options = TlsOptions::default();
        let v = versions(&options).unwrap();
        let (suites, v) = select(&options, &provider(), v).unwrap();
        assert_eq!(v.len(), 1);
        let names: Vec<String> = suites.iter().map(java_name).collect();
        assert_eq!(names, ZOOKEEPER_DEFAULT_SUITES[..4].to_vec());
    }

    #[test]
    fn tls13_opt_in_with_java_names() {
        let options = TlsOptions {
            enabled_protocols: Some(vec!["TLSv1.3".into(), "TLSv1.2".into()]),
            ciphersuites: Some(vec![
                "TLS_AES_128_GCM_SHA256".into(),
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
            ]),
            ..TlsOptions::default()
        };
        let (suites, v) = select(&options, &provider(), versions(&options).unwrap()).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(java_name(&suites[0]), "TLS_AES_128_GCM_SHA256");
    }

    #[test]
    fn tls13_alone_with_the_default_suites_is_refused() {
        let options = TlsOptions {
            protocol: "TLSv1.3".into(),
            ..TlsOptions::default()
        };
        let err = select(&options, &provider(), versions(&options).unwrap()).unwrap_err();
        assert_eq!(err.key, "ssl.ciphersuites");
    }

    #[test]
    fn old_or_unknown_protocols() {
        let only_old = TlsOptions {
            enabled_protocols: Some(vec!["TLSv1.1".into()]),
            ..TlsOptions::default()
        };
        assert_eq!(versions(&only_old).unwrap_err().key, "ssl.enabledProtocols");
        let unknown = TlsOptions {
            protocol: "QUIC".into(),
            ..TlsOptions::default()
        };
        assert_eq!(versions(&unknown).unwrap_err().key, "ssl.protocol");
    }
}
