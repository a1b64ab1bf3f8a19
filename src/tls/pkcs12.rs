//! PKCS#12 key and trust stores (RFC 7292) and encrypted private keys: PBES2 (RFC 8018) as
//! `keytool` (JDK 12 and later) and OpenSSL 3 write them by default (PBKDF2 with HMAC-SHA-256
//! or -SHA-1, AES-CBC), and PKCS#12's own `pbeWithSHAAnd3-KeyTripleDES-CBC` (RFC 7292
//! appendix B key derivation with SHA-1, 3DES-CBC): the form ZooKeeper's documentation makes
//! with `openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES`, and older keytool/OpenSSL stores. The
//! 40- and 128-bit RC2 schemes are refused with a line saying how to re-export. The MAC is
//! not checked: a wrong password already fails the decryption (padding, then the DER inside).

use aes::cipher::{block_padding::Pkcs7, BlockCipher, BlockDecryptMut, KeyIvInit};
use sha1::Digest;

use super::x509::{dotted, element, expect, X509Error, INTEGER, OID, SEQUENCE};

const DATA: &str = "1.2.840.113549.1.7.1";
const ENCRYPTED_DATA: &str = "1.2.840.113549.1.7.6";
const KEY_BAG: &str = "1.2.840.113549.1.12.10.1.1";
const SHROUDED_KEY_BAG: &str = "1.2.840.113549.1.12.10.1.2";
const CERT_BAG: &str = "1.2.840.113549.1.12.10.1.3";
const X509_CERTIFICATE: &str = "1.2.840.113549.1.9.22.1";
const PBES2: &str = "1.2.840.113549.1.5.13";
const PBE_SHA1_3DES: &str = "1.2.840.113549.1.12.1.3";
const PBKDF2: &str = "1.2.840.113549.1.5.12";
const HMAC_SHA1: &str = "1.2.840.113549.2.7";
const HMAC_SHA256: &str = "1.2.840.113549.2.9";
const AES128_CBC: &str = "2.16.840.1.101.3.4.1.2";
const AES192_CBC: &str = "2.16.840.1.101.3.4.1.22";
const AES256_CBC: &str = "2.16.840.1.101.3.4.1.42";
const OCTET_STRING: u8 = 0x04;
const CONTEXT_0: u8 = 0xa0;
const CONTEXT_0_PRIMITIVE: u8 = 0x80;

/// What a PKCS#12 file holds: its private keys (PKCS#8 DER) and its certificates (DER), in
/// file order.
#[derive(Debug, Default)]
pub struct Contents {
    /// PKCS#8 private keys.
    pub keys: Vec<Vec<u8>>,
    /// X.509 certificates.
    pub certs: Vec<Vec<u8>>,
}

fn malformed(e: X509Error) -> String {
    format!("not a PKCS#12 file the way keytool or OpenSSL write it ({e})")
}

/// Reads a PKCS#12 file with `password`.
pub fn read(der: &[u8], password: &str) -> Result<Contents, String> {
    let (pfx, _) = expect(der, SEQUENCE, "PFX").map_err(malformed)?;
    let (_, rest) = expect(pfx, INTEGER, "PFX version").map_err(malformed)?;
    let (auth_safe, _) = expect(rest, SEQUENCE, "authSafe").map_err(malformed)?;
    let safes = data_content(auth_safe)?;
    let (mut list, _) = expect(safes, SEQUENCE, "AuthenticatedSafe").map_err(malformed)?;
    let mut contents = Contents::default();
    while !list.is_empty() {
        let (info, after) = expect(list, SEQUENCE, "ContentInfo").map_err(malformed)?;
        let (kind, body) = expect(info, OID, "content type").map_err(malformed)?;
        let safe_contents = match dotted(kind).map_err(malformed)?.as_str() {
            DATA => data_content(info)?.to_vec(),
            ENCRYPTED_DATA => {
                let (explicit, _) = expect(body, CONTEXT_0, "encryptedData").map_err(malformed)?;
                let (encrypted_data, _) =
                    expect(explicit, SEQUENCE, "EncryptedData").map_err(malformed)?;
                let (_, rest) = expect(encrypted_data, INTEGER, "version").map_err(malformed)?;
                let (info, _) =
                    expect(rest, SEQUENCE, "EncryptedContentInfo").map_err(malformed)?;
                let (_, rest) = expect(info, OID, "content type").map_err(malformed)?;
                let (algorithm, rest) = expect(rest, SEQUENCE, "algorithm").map_err(malformed)?;
                let (tag, ciphertext, _) = element(rest).map_err(malformed)?;
                if tag != CONTEXT_0_PRIMITIVE {
                    return Err("encrypted content in a form not read (constructed)".into());
                }
                decrypt(algorithm, ciphertext, password)?
            }
            other => return Err(format!("content of type {other} not read")),
        };
        bags(&safe_contents, password, &mut contents)?;
        list = after;
    }
    Ok(contents)
}

/// The OCTET STRING inside a `data` ContentInfo.
fn data_content(info: &[u8]) -> Result<&[u8], String> {
    let (_, body) = expect(info, OID, "content type").map_err(malformed)?;
    let (explicit, _) = expect(body, CONTEXT_0, "content").map_err(malformed)?;
    let (octets, _) = expect(explicit, OCTET_STRING, "data").map_err(malformed)?;
    Ok(octets)
}

fn bags(safe_contents: &[u8], password: &str, out: &mut Contents) -> Result<(), String> {
    let (mut list, _) = expect(safe_contents, SEQUENCE, "SafeContents").map_err(malformed)?;
    while !list.is_empty() {
        let (bag, after) = expect(list, SEQUENCE, "SafeBag").map_err(malformed)?;
        let (id, rest) = expect(bag, OID, "bag id").map_err(malformed)?;
        let (value, _) = expect(rest, CONTEXT_0, "bag value").map_err(malformed)?;
        match dotted(id).map_err(malformed)?.as_str() {
            KEY_BAG => out.keys.push(whole(value)?),
            SHROUDED_KEY_BAG => {
                let (epki, _) =
                    expect(value, SEQUENCE, "EncryptedPrivateKeyInfo").map_err(malformed)?;
                let (algorithm, rest) = expect(epki, SEQUENCE, "algorithm").map_err(malformed)?;
                let (ciphertext, _) =
                    expect(rest, OCTET_STRING, "encrypted key").map_err(malformed)?;
                out.keys.push(decrypt(algorithm, ciphertext, password)?);
            }
            CERT_BAG => {
                let (cert_bag, _) = expect(value, SEQUENCE, "CertBag").map_err(malformed)?;
                let (kind, rest) = expect(cert_bag, OID, "cert id").map_err(malformed)?;
                if dotted(kind).map_err(malformed)? == X509_CERTIFICATE {
                    let (explicit, _) = expect(rest, CONTEXT_0, "cert value").map_err(malformed)?;
                    let (cert, _) =
                        expect(explicit, OCTET_STRING, "certificate").map_err(malformed)?;
                    out.certs.push(cert.to_vec());
                }
            }
            _ => {} // CRLs, secrets: not for TLS
        }
        list = after;
    }
    Ok(())
}

/// The first element of `bytes` with its header.
fn whole(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let (_, _, rest) = element(bytes).map_err(malformed)?;
    Ok(bytes
        .get(..bytes.len() - rest.len())
        .unwrap_or_default()
        .to_vec())
}

/// Decrypts PBES2 ciphertext (`algorithm` is the AlgorithmIdentifier's contents).
pub fn decrypt(algorithm: &[u8], ciphertext: &[u8], password: &str) -> Result<Vec<u8>, String> {
    let (oid, params) = expect(algorithm, OID, "algorithm").map_err(malformed)?;
    let oid = dotted(oid).map_err(malformed)?;
    if oid == PBE_SHA1_3DES {
        return decrypt_pbe_sha1_3des(params, ciphertext, password);
    }
    if oid != PBES2 {
        return Err(format!(
            "encrypted with {oid}, a legacy PKCS#12 scheme (RC2) raftzk does not read: re-encrypt with PBES2/AES, OpenSSL 3's default (`openssl pkcs8 -topk8 -v2 aes256` for a key, `openssl pkcs12 -export` for a store) and keytool's since JDK 12"
        ));
    }
    let (pbes2, _) = expect(params, SEQUENCE, "PBES2 parameters").map_err(malformed)?;
    let (kdf, rest) = expect(pbes2, SEQUENCE, "key derivation").map_err(malformed)?;
    let (scheme, _) = expect(rest, SEQUENCE, "encryption scheme").map_err(malformed)?;
    let (kdf_oid, kdf_params) = expect(kdf, OID, "kdf").map_err(malformed)?;
    if dotted(kdf_oid).map_err(malformed)? != PBKDF2 {
        return Err("PBES2 with a key derivation other than PBKDF2 (scrypt?) is not read".into());
    }
    let (pbkdf2, _) = expect(kdf_params, SEQUENCE, "PBKDF2 parameters").map_err(malformed)?;
    let (salt, rest) = expect(pbkdf2, OCTET_STRING, "salt").map_err(malformed)?;
    let (iterations, mut rest) = expect(rest, INTEGER, "iterations").map_err(malformed)?;
    let iterations = integer(iterations).ok_or("PBKDF2 iteration count out of range")?;
    let mut prf = HMAC_SHA1.to_string();
    while !rest.is_empty() {
        let (tag, content, after) = element(rest).map_err(malformed)?;
        if tag == SEQUENCE {
            let (prf_oid, _) = expect(content, OID, "prf").map_err(malformed)?;
            prf = dotted(prf_oid).map_err(malformed)?;
        }
        rest = after; // an explicit key length is implied by the cipher
    }
    let (cipher_oid, cipher_params) = expect(scheme, OID, "cipher").map_err(malformed)?;
    let (iv, _) = expect(cipher_params, OCTET_STRING, "IV").map_err(malformed)?;
    let cipher = dotted(cipher_oid).map_err(malformed)?;
    let key_len = match cipher.as_str() {
        AES128_CBC => 16,
        AES192_CBC => 24,
        AES256_CBC => 32,
        other => return Err(format!("PBES2 cipher {other} is not read (AES-CBC is)")),
    };
    let algorithm = match prf.as_str() {
        HMAC_SHA256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
        HMAC_SHA1 => ring::pbkdf2::PBKDF2_HMAC_SHA1,
        other => {
            return Err(format!(
                "PBKDF2 with {other} is not read (HMAC-SHA-256, -SHA-1 are)"
            ))
        }
    };
    let mut key = vec![0u8; key_len];
    ring::pbkdf2::derive(algorithm, iterations, salt, password.as_bytes(), &mut key);
    let plain = match key_len {
        16 => cbc_decrypt::<aes::Aes128>(&key, iv, ciphertext),
        24 => cbc_decrypt::<aes::Aes192>(&key, iv, ciphertext),
        _ => cbc_decrypt::<aes::Aes256>(&key, iv, ciphertext),
    };
    plain.ok_or_else(wrong_password)
}

fn wrong_password() -> String {
    "cannot decrypt: wrong password (or a damaged file)".to_string()
}

/// CBC decryption with PKCS#7 padding; None for a wrong key (or a damaged ciphertext).
fn cbc_decrypt<C>(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>>
where
    C: BlockDecryptMut + BlockCipher,
    cbc::Decryptor<C>: KeyIvInit,
{
    let mut plain = ciphertext.to_vec();
    let len = cbc::Decryptor::<C>::new_from_slices(key, iv)
        .ok()?
        .decrypt_padded_mut::<Pkcs7>(&mut plain)
        .ok()?
        .len();
    plain.truncate(len);
    // A wrong key whose padding happens to look right still yields no DER.
    element(&plain).ok()?;
    Some(plain)
}

/// `pbeWithSHAAnd3-KeyTripleDES-CBC`: parameters `SEQUENCE { salt, iterations }`, key and IV
/// from RFC 7292 appendix B.2 with SHA-1.
fn decrypt_pbe_sha1_3des(
    params: &[u8],
    ciphertext: &[u8],
    password: &str,
) -> Result<Vec<u8>, String> {
    let (pbe, _) = expect(params, SEQUENCE, "PBE parameters").map_err(malformed)?;
    let (salt, rest) = expect(pbe, OCTET_STRING, "salt").map_err(malformed)?;
    let (iterations, _) = expect(rest, INTEGER, "iterations").map_err(malformed)?;
    let iterations = integer(iterations).ok_or("PBE iteration count out of range")?;
    let key = pkcs12_kdf_sha1(password, salt, iterations.get(), 1, 24);
    let iv = pkcs12_kdf_sha1(password, salt, iterations.get(), 2, 8);
    cbc_decrypt::<des::TdesEde3>(&key, &iv, ciphertext).ok_or_else(wrong_password)
}

/// RFC 7292 appendix B.2 with SHA-1 (u = 20, v = 64): `n` bytes of key (`id` 1) or IV (2)
/// material from the password as a NUL-terminated BMPString.
fn pkcs12_kdf_sha1(password: &str, salt: &[u8], iterations: u32, id: u8, n: usize) -> Vec<u8> {
    const V: usize = 64;
    let fill = |bytes: &[u8]| -> Vec<u8> {
        if bytes.is_empty() {
            return Vec::new();
        }
        let len = V * bytes.len().div_ceil(V);
        bytes.iter().copied().cycle().take(len).collect()
    };
    let mut bmp: Vec<u8> = password.encode_utf16().flat_map(u16::to_be_bytes).collect();
    bmp.extend_from_slice(&[0, 0]);
    let mut i: Vec<u8> = fill(salt);
    i.extend(fill(&bmp));
    let mut out = Vec::with_capacity(n + 20);
    while out.len() < n {
        let mut a = sha1::Sha1::new()
            .chain_update([id; V])
            .chain_update(&i)
            .finalize();
        for _ in 1..iterations {
            a = sha1::Sha1::digest(a);
        }
        out.extend_from_slice(&a);
        // I_j = (I_j + B + 1) mod 2^512 for every 64-byte block, B = A repeated.
        let b: Vec<u8> = a.iter().copied().cycle().take(V).collect();
        for block in i.chunks_mut(V) {
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().zip(&b).rev() {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum as u8;
                carry = sum >> 8;
            }
        }
    }
    out.truncate(n);
    out
}

fn integer(bytes: &[u8]) -> Option<std::num::NonZeroU32> {
    if bytes.len() > 5 {
        return None;
    }
    let v = bytes.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b));
    std::num::NonZeroU32::new(u32::try_from(v).ok()?)
}

/// An `ENCRYPTED PRIVATE KEY` (PKCS#8 EncryptedPrivateKeyInfo) decrypted to PKCS#8.
pub fn decrypt_private_key(der: &[u8], password: &str) -> Result<Vec<u8>, String> {
    let (epki, _) = expect(der, SEQUENCE, "EncryptedPrivateKeyInfo").map_err(malformed)?;
    let (algorithm, rest) = expect(epki, SEQUENCE, "algorithm").map_err(malformed)?;
    let (ciphertext, _) = expect(rest, OCTET_STRING, "encrypted key").map_err(malformed)?;
    decrypt(algorithm, ciphertext, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// The classic PKCS#12 key-generation vectors (password "smeg", one iteration).
    #[test]
    fn pkcs12_key_derivation_matches_the_published_vectors() {
        let salt = [0x0A, 0x58, 0xCF, 0x64, 0x53, 0x0D, 0x82, 0x3F];
        assert_eq!(
            hex(&pkcs12_kdf_sha1("smeg", &salt, 1, 1, 24)),
            "8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3"
        );
        assert_eq!(
            hex(&pkcs12_kdf_sha1("smeg", &salt, 1, 2, 8)),
            "79993DFE048D3B76"
        );
    }
}
