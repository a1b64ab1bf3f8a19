//! Key and trust stores as ZooKeeper names them (`ssl.keyStore.*`, `ssl.trustStore.*`): the
//! type from `.type` or else the file's extension (ZooKeeper's `KeyStoreFileType`), the
//! password from `.passwordPath` or `.password`.
//!
//! PEM: a key store is one file with the private key and the certificate chain (leaf
//! first), a trust store every certificate in its file. raftzk also takes the key forms Java
//! refuses (PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`, a PBES2 `ENCRYPTED PRIVATE KEY`):
//! leniency that costs nothing. PKCS12: the private key and the certificates in the file (a
//! trust store: every certificate), PBES2-encrypted as keytool and OpenSSL 3 write them
//! (`pkcs12`). JKS and BCFKS are refused with the command that converts them.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;
use crate::config::StoreOptions;

/// A server's identity: its certificate chain (leaf first) and private key.
pub(super) struct KeyStore {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// The store formats ZooKeeper knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    Pem,
    Pkcs12,
    Jks,
    Bcfks,
}

/// The names of one store's keys, for errors.
pub(super) struct StoreKeys {
    pub location: &'static str,
    pub password_path: &'static str,
    pub kind: &'static str,
}

/// `ssl.keyStore.*`.
pub(super) const KEY_STORE: StoreKeys = StoreKeys {
    location: "ssl.keyStore.location",
    password_path: "ssl.keyStore.passwordPath",
    kind: "ssl.keyStore.type",
};

/// `ssl.trustStore.*`.
pub(super) const TRUST_STORE: StoreKeys = StoreKeys {
    location: "ssl.trustStore.location",
    password_path: "ssl.trustStore.passwordPath",
    kind: "ssl.trustStore.type",
};

fn error(key: &'static str, reason: impl Into<String>) -> TlsError {
    TlsError {
        key,
        reason: reason.into(),
    }
}

/// The store's type: `.type` (any case) or else the extension, as ZooKeeper decides it.
fn kind(options: &StoreOptions, path: &Path, keys: &StoreKeys) -> Result<StoreKind, TlsError> {
    if let Some(kind) = options.kind.as_deref().filter(|k| !k.trim().is_empty()) {
        return match kind.trim().to_ascii_uppercase().as_str() {
            "PEM" => Ok(StoreKind::Pem),
            "PKCS12" => Ok(StoreKind::Pkcs12),
            "JKS" => Ok(StoreKind::Jks),
            "BCFKS" => Ok(StoreKind::Bcfks),
            _ => Err(error(keys.kind, "must be PEM, PKCS12, JKS or BCFKS")),
        };
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("pem") => Ok(StoreKind::Pem),
        Some("p12") => Ok(StoreKind::Pkcs12),
        Some("jks") => Ok(StoreKind::Jks),
        Some("bcfks") => Ok(StoreKind::Bcfks),
        _ => Err(error(
            keys.kind,
            format!(
                "unable to auto-detect the store file type of {} (extensions .pem, .p12, .jks, .bcfks): set {}",
                path.display(),
                keys.kind
            ),
        )),
    }
}

/// Refuses the formats raftzk does not read, saying how to convert.
fn refuse(kind: StoreKind, path: &Path, keys: &StoreKeys) -> TlsError {
    let how = match kind {
        StoreKind::Jks => "JKS is not read: convert with `keytool -importkeystore -srckeystore FILE -destkeystore store.p12 -deststoretype PKCS12`",
        _ => "BCFKS is not read: export the key and certificates to PKCS12 or PEM",
    };
    error(keys.location, format!("{}: {how}", path.display()))
}

fn pkcs12(
    path: &Path,
    options: &StoreOptions,
    keys: &StoreKeys,
) -> Result<super::pkcs12::Contents, TlsError> {
    let bytes = read(path, keys.location)?;
    let password = password(options, keys)?.unwrap_or_default();
    super::pkcs12::read(&bytes, &password)
        .map_err(|e| error(keys.location, format!("{}: {e}", path.display())))
}

/// The store's password, if any: `.passwordPath`'s file (trailing line break dropped) wins
/// over `.password`.
fn password(options: &StoreOptions, keys: &StoreKeys) -> Result<Option<String>, TlsError> {
    if let Some(path) = &options.password_path {
        let text = std::fs::read_to_string(path)
            .map_err(|e| error(keys.password_path, format!("{}: {e}", path.display())))?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()));
    }
    Ok(options.password.clone())
}

fn read(path: &Path, key: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| error(key, format!("{}: {e}", path.display())))
}

fn certificates(
    bytes: &[u8],
    path: &Path,
    key: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(key, format!("{}: {e}", path.display())))
}

/// Loads the server's key and chain.
pub(super) fn load_key_store(options: &StoreOptions) -> Result<KeyStore, TlsError> {
    let keys = &KEY_STORE;
    let path = options
        .location
        .as_deref()
        .ok_or_else(|| error(keys.location, "TLS needs this member's key and certificate"))?;
    match kind(options, path, keys)? {
        StoreKind::Pem => {}
        StoreKind::Pkcs12 => {
            let contents = pkcs12(path, options, keys)?;
            let key = contents.keys.into_iter().next().ok_or_else(|| {
                error(
                    keys.location,
                    format!("{}: no private key in the store", path.display()),
                )
            })?;
            if contents.certs.is_empty() {
                return Err(error(
                    keys.location,
                    format!("{}: no certificate in the store", path.display()),
                ));
            }
            return Ok(KeyStore {
                chain: contents
                    .certs
                    .into_iter()
                    .map(CertificateDer::from)
                    .collect(),
                key: PrivateKeyDer::Pkcs8(key.into()),
            });
        }
        other => return Err(refuse(other, path, keys)),
    }
    let bytes = read(path, keys.location)?;
    let chain = certificates(&bytes, path, keys.location)?;
    if chain.is_empty() {
        return Err(error(
            keys.location,
            format!(
                "{}: no certificate in the file (it must hold the key and the certificate chain)",
                path.display()
            ),
        ));
    }
    if let Some(encrypted) = pem_section(&bytes, "ENCRYPTED PRIVATE KEY") {
        let password = password(options, keys)?.ok_or_else(|| {
            error(
                keys.location,
                format!(
                    "{}: the key is encrypted: set the key store's password",
                    path.display()
                ),
            )
        })?;
        let key = super::pkcs12::decrypt_private_key(&encrypted, &password)
            .map_err(|e| error(keys.location, format!("{}: the key: {e}", path.display())))?;
        return Ok(KeyStore {
            chain,
            key: PrivateKeyDer::Pkcs8(key.into()),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        error(
            keys.location,
            format!("{}: no private key read: {e}", path.display()),
        )
    })?;
    Ok(KeyStore { chain, key })
}

/// Loads the certificates client certificates must chain to (None: no trust store named).
pub(super) fn load_trust_store(
    options: &StoreOptions,
) -> Result<Option<Vec<CertificateDer<'static>>>, TlsError> {
    let keys = &TRUST_STORE;
    let Some(path) = options.location.as_deref() else {
        return Ok(None);
    };
    let certs = match kind(options, path, keys)? {
        StoreKind::Pem => certificates(&read(path, keys.location)?, path, keys.location)?,
        StoreKind::Pkcs12 => pkcs12(path, options, keys)?
            .certs
            .into_iter()
            .map(CertificateDer::from)
            .collect(),
        other => return Err(refuse(other, path, keys)),
    };
    if certs.is_empty() {
        return Err(error(
            keys.location,
            format!("{}: no certificate in the file", path.display()),
        ));
    }
    Ok(Some(certs))
}

/// The DER of the first PEM section labelled `label`.
fn pem_section(bytes: &[u8], label: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let text = std::str::from_utf8(bytes).ok()?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text.get(start..)?.find(&end)?;
    let body: String = text
        .get(start..stop)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn store_types_by_key_or_extension() {
        let opts = |kind: Option<&str>| StoreOptions {
            kind: kind.map(str::to_string),
            ..StoreOptions::default()
        };
        let k = &KEY_STORE;
        assert_eq!(
            kind(&opts(None), Path::new("a.PEM"), k).unwrap(),
            StoreKind::Pem
        );
        assert_eq!(
            kind(&opts(None), Path::new("a.p12"), k).unwrap(),
            StoreKind::Pkcs12
        );
        assert_eq!(
            kind(&opts(Some("pkcs12")), Path::new("a.pem"), k).unwrap(),
            StoreKind::Pkcs12
        );
        // ZooKeeper's list of extensions: .key and .pfx are not in it.
        assert_eq!(
            kind(&opts(None), Path::new("a.key"), k).unwrap_err().key,
            "ssl.keyStore.type"
        );
        assert!(kind(&opts(None), Path::new("a.pfx"), k).is_err());
        assert!(kind(&opts(Some("PKCS11")), Path::new("a.pem"), k).is_err());
    }
}
