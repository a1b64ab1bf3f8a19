//! What raftzk reads out of an X.509 certificate: the subject, formatted exactly as Java's
//! `X500Principal.getName()` (RFC 2253) prints it, since that string is the client's `x509`
//! id in ACLs written for ZooKeeper; and the expiry, for the log and `/metrics`.
//!
//! A minimal DER walk over the few fields needed (RFC 5280 §4.1), not a certificate parser:
//! the TLS library has already checked the certificate before anything here reads it.

use std::fmt::Write as _;

/// A certificate whose fields could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed certificate: {0}")]
pub struct X509Error(pub(super) &'static str);

/// The fields of a certificate raftzk uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    /// The subject, RFC 2253 as Java prints it (`CN=alice,OU=test,O=raftzk,C=US`).
    pub subject: String,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
}

/// Reads a DER certificate's subject and expiry.
pub fn summarize(der: &[u8]) -> Result<CertificateSummary, X509Error> {
    let (cert, _) = expect(der, SEQUENCE, "certificate")?;
    let (tbs, _) = expect(cert, SEQUENCE, "tbsCertificate")?;
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == VERSION_TAG {
        rest = after;
    }
    let (_, rest) = expect(rest, INTEGER, "serial number")?;
    let (_, rest) = expect(rest, SEQUENCE, "signature algorithm")?;
    let (_, rest) = expect(rest, SEQUENCE, "issuer")?;
    let (validity, rest) = expect(rest, SEQUENCE, "validity")?;
    let (subject, _) = expect(rest, SEQUENCE, "subject")?;
    let (_, _, after_not_before) = element(validity)?;
    let (time_tag, not_after, _) = element(after_not_before)?;
    Ok(CertificateSummary {
        subject: rfc2253(subject)?,
        not_after: parse_time(time_tag, not_after)?,
    })
}

pub(super) const INTEGER: u8 = 0x02;
pub(super) const OID: u8 = 0x06;
pub(super) const SEQUENCE: u8 = 0x30;
pub(super) const SET: u8 = 0x31;
const VERSION_TAG: u8 = 0xa0;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const T61_STRING: u8 = 0x14;
const IA5_STRING: u8 = 0x16;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const GENERAL_STRING: u8 = 0x1b;
const BMP_STRING: u8 = 0x1e;

/// One element: its tag, its contents and what follows it. Single-byte tags only (all a
/// certificate's fields up to the subject use them).
pub(super) fn element(bytes: &[u8]) -> Result<(u8, &[u8], &[u8]), X509Error> {
    let (whole, rest) = element_whole(bytes)?;
    let header = whole.len() - content_len(whole)?;
    match (whole.first(), whole.get(header..)) {
        (Some(&tag), Some(content)) => Ok((tag, content, rest)),
        _ => Err(X509Error("truncated element")),
    }
}

/// One element with its header, and what follows it.
fn element_whole(bytes: &[u8]) -> Result<(&[u8], &[u8]), X509Error> {
    let short = X509Error("truncated element");
    let &first_len = bytes.get(1).ok_or(short.clone())?;
    let (header, len) = if first_len < 0x80 {
        (2, usize::from(first_len))
    } else {
        let n = usize::from(first_len & 0x7f);
        if n == 0 || n > 4 {
            return Err(X509Error("unsupported length"));
        }
        let digits = bytes.get(2..2 + n).ok_or(short.clone())?;
        (
            2 + n,
            digits
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b)),
        )
    };
    let end = header.checked_add(len).ok_or(short.clone())?;
    if bytes.len() < end {
        return Err(short);
    }
    Ok(bytes.split_at(end))
}

fn content_len(whole: &[u8]) -> Result<usize, X509Error> {
    let first_len = *whole.get(1).ok_or(X509Error("truncated element"))?;
    Ok(if first_len < 0x80 {
        usize::from(first_len)
    } else {
        whole.len() - 2 - usize::from(first_len & 0x7f)
    })
}

pub(super) fn expect<'a>(
    bytes: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), X509Error> {
    let (found, content, rest) = element(bytes)?;
    if found != tag {
        return Err(X509Error(what));
    }
    Ok((content, rest))
}

/// The attribute types Java names by keyword in RFC 2253 output; every other one is printed
/// as its dotted OID with the value's DER in hex.
const KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// A Name's contents as `X500Principal.getName()`: RDNs last to first, joined by `,`; the
/// attributes of a multi-valued RDN joined by `+`.
fn rfc2253(name: &[u8]) -> Result<String, X509Error> {
    let mut rdns = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let (set, after) = expect(rest, SET, "relative distinguished name")?;
        let mut parts = Vec::new();
        let mut attrs = set;
        while !attrs.is_empty() {
            let (attr, after_attr) = expect(attrs, SEQUENCE, "attribute")?;
            let (oid, value) = expect(attr, OID, "attribute type")?;
            let (value_whole, _) = element_whole(value)?;
            parts.push(attribute(&dotted(oid)?, value_whole)?);
            attrs = after_attr;
        }
        rdns.push(parts.join("+"));
        rest = after;
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

/// `type=value` for one attribute.
fn attribute(oid: &str, value: &[u8]) -> Result<String, X509Error> {
    let keyword = KEYWORDS.iter().find(|(o, _)| *o == oid).map(|(_, k)| *k);
    let (tag, content, _) = element(value)?;
    match (keyword, decode_string(tag, content)) {
        (Some(keyword), Some(text)) => Ok(format!("{keyword}={}", escape(&text))),
        (keyword, _) => {
            let mut out = format!("{}=#", keyword.unwrap_or(oid));
            for b in value {
                let _ = write!(out, "{b:02x}");
            }
            Ok(out)
        }
    }
}

/// The string types Java prints as text (its `AVA.isDerString`, non-canonical); None for any
/// other value, which is printed as hex.
fn decode_string(tag: u8, content: &[u8]) -> Option<String> {
    match tag {
        UTF8_STRING | PRINTABLE_STRING | IA5_STRING | GENERAL_STRING => {
            String::from_utf8(content.to_vec()).ok()
        }
        // Java reads T.61 as ISO-8859-1.
        T61_STRING => Some(content.iter().map(|&b| char::from(b)).collect()),
        BMP_STRING => {
            let units: Vec<u16> = content
                .chunks_exact(2)
                .filter_map(|pair| pair.try_into().ok().map(u16::from_be_bytes))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// RFC 2253 escaping as Java does it: `,+"\<>;` anywhere, a leading `#` or space, a trailing
/// space.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    let count = text.chars().count();
    for (i, c) in text.chars().enumerate() {
        let special = ",+\"\\<>;".contains(c)
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == count && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An OBJECT IDENTIFIER's contents in dotted form.
pub(super) fn dotted(oid: &[u8]) -> Result<String, X509Error> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        if value > (u64::MAX >> 7) {
            return Err(X509Error("object identifier arc too large"));
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        } else if i + 1 == oid.len() {
            return Err(X509Error("truncated object identifier"));
        }
    }
    if arcs.is_empty() {
        return Err(X509Error("empty object identifier"));
    }
    Ok(arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 50–99 are 19xx) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as
/// Unix seconds.
fn parse_time(tag: u8, content: &[u8]) -> Result<i64, X509Error> {
    let text = std::str::from_utf8(content).map_err(|_| X509Error("time is not text"))?;
    let digits = text.strip_suffix('Z').ok_or(X509Error("time is not UTC"))?;
    let num = |from: usize, to: usize| {
        digits
            .get(from..to)
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or(X509Error("time is not digits"))
    };
    let (year, at) = match tag {
        UTC_TIME if digits.len() == 12 => {
            let yy = num(0, 2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        GENERALIZED_TIME if digits.len() == 14 => (num(0, 4)?, 4),
        _ => return Err(X509Error("unsupported time")),
    };
    let (month, day) = (num(at, at + 2)?, num(at + 2, at + 4)?);
    let (hour, minute, second) = (
        num(at + 4, at + 6)?,
        num(at + 6, at + 8)?,
        num(at + 8, at + 10)?,
    );
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(content);
        out
    }

    fn oid(dotted: &str) -> Vec<u8> {
        let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
        let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
        for &arc in &arcs[2..] {
            let mut groups = vec![(arc & 0x7f) as u8];
            let mut v = arc >> 7;
            while v > 0 {
                groups.push(((v & 0x7f) as u8) | 0x80);
                v >>= 7;
            }
            groups.reverse();
            body.extend(groups);
        }
        tlv(OID, &body)
    }

    /// A Name from RDNs given first to last, each a list of (oid, tag, value).
    fn name(rdns: &[&[(&str, u8, &[u8])]]) -> Vec<u8> {
        let mut body = Vec::new();
        for rdn in rdns {
            let mut set = Vec::new();
            for (o, tag, value) in *rdn {
                let mut attr = oid(o);
                attr.extend(tlv(*tag, value));
                set.extend(tlv(SEQUENCE, &attr));
            }
            body.extend(tlv(SET, &set));
        }
        body
    }

    #[test]
    fn subjects_as_java_prints_them() {
        let alice = name(&[
            &[("2.5.4.6", PRINTABLE_STRING, b"US")],
            &[("2.5.4.10", UTF8_STRING, b"raftzk")],
            &[("2.5.4.11", UTF8_STRING, b"test")],
            &[("2.5.4.3", UTF8_STRING, b"alice")],
        ]);
        assert_eq!(rfc2253(&alice).unwrap(), "CN=alice,OU=test,O=raftzk,C=US");

        let escaped = name(&[
            &[("2.5.4.10", UTF8_STRING, b"A, Inc.")],
            &[("2.5.4.3", UTF8_STRING, b"bob \"the\" builder")],
        ]);
        assert_eq!(
            rfc2253(&escaped).unwrap(),
            "CN=bob \\\"the\\\" builder,O=A\\, Inc."
        );

        let edges = name(&[&[("2.5.4.3", UTF8_STRING, b"#x+y;<z> ")]]);
        assert_eq!(rfc2253(&edges).unwrap(), "CN=\\#x\\+y\\;\\<z\\>\\ ");

        // serialNumber and emailAddress have no RFC 2253 keyword: OID and the DER in hex.
        let oids = name(&[
            &[("1.2.840.113549.1.9.1", IA5_STRING, b"b@x.org")],
            &[("2.5.4.5", PRINTABLE_STRING, b"42")],
        ]);
        assert_eq!(
            rfc2253(&oids).unwrap(),
            "2.5.4.5=#13023432,1.2.840.113549.1.9.1=#16076240782e6f7267"
        );

        let multi = name(&[&[
            ("2.5.4.3", UTF8_STRING, b"a"),
            ("0.9.2342.19200300.100.1.1", UTF8_STRING, b"u1"),
        ]]);
        assert_eq!(rfc2253(&multi).unwrap(), "CN=a+UID=u1");
    }

    #[test]
    fn times() {
        assert_eq!(parse_time(UTC_TIME, b"700101000000Z"), Ok(0));
        assert_eq!(parse_time(UTC_TIME, b"361203120000Z"), Ok(2_111_918_400));
        assert_eq!(
            parse_time(GENERALIZED_TIME, b"20500101000000Z"),
            Ok(2_524_608_000)
        );
        assert!(parse_time(UTC_TIME, b"3612031200Z").is_err());
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let alice = name(&[&[("2.5.4.3", UTF8_STRING, b"alice")]]);
        let cert = tlv(SEQUENCE, &tlv(SEQUENCE, &alice));
        for cut in 0..cert.len() {
            let _ = summarize(&cert[..cut]);
        }
        assert!(summarize(&cert).is_err());
    }
}
