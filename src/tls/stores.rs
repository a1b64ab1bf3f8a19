//! Key and trust stores as ZooKeeper names them (`ssl.keyStore.*`, `ssl.trustStore.*`): the
//! type from `.type` or else the file's extension (ZooKeeper's `KeyStoreFileType`), the
//! password from `.passwordPath` or `.password`.
//!
//! PEM is read here: a key store is one file with the private key and the certificate chain
//! (leaf first), a trust store every certificate in its file. raftzk also takes the key forms
//! Java refuses (PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`): leniency that costs nothing.

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

/// Refuses the formats not read yet, saying how to convert.
fn only_pem(kind: StoreKind, path: &Path, keys: &StoreKeys) -> Result<(), TlsError> {
    let how = match kind {
        StoreKind::Pem => return Ok(()),
        StoreKind::Pkcs12 => "PKCS12 is not read yet: convert with `openssl pkcs12 -in FILE -nodes -out store.pem`",
        StoreKind::Jks => "JKS is not read: convert with `keytool -importkeystore -srckeystore FILE -destkeystore store.p12 -deststoretype PKCS12`, then to PEM with openssl pkcs12",
        StoreKind::Bcfks => "BCFKS is not read: export the key and certificates to PEM",
    };
    Err(error(keys.location, format!("{}: {how}", path.display())))
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
    let path = options.location.as_deref().ok_or_else(|| {
        error(
            keys.location,
            "TLS on the client port needs the server's key and certificate",
        )
    })?;
    only_pem(kind(options, path, keys)?, path, keys)?;
    let bytes = read(path, keys.location)?;
    if contains_label(&bytes, "ENCRYPTED PRIVATE KEY") {
        let _ = password(options, keys)?;
        return Err(error(
            keys.location,
            format!(
                "{}: encrypted PEM keys are not read yet: decrypt with `openssl pkcs8 -in KEY -out plain.key` and keep the file private",
                path.display()
            ),
        ));
    }
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
    only_pem(kind(options, path, keys)?, path, keys)?;
    let bytes = read(path, keys.location)?;
    let certs = certificates(&bytes, path, keys.location)?;
    if certs.is_empty() {
        return Err(error(
            keys.location,
            format!("{}: no certificate in the file", path.display()),
        ));
    }
    Ok(Some(certs))
}

fn contains_label(bytes: &[u8], label: &str) -> bool {
    let begin = format!("-----BEGIN {label}-----");
    bytes.windows(begin.len()).any(|w| w == begin.as_bytes())
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
