//! ACLs and identities as ZooKeeper 3.8 checks them (`protocol.md` §11): validating and
//! expanding an ACL list at create/setACL (`fixupACL`), the permission check (`checkACL`),
//! digest ids, and IPv4 address masks.
//!
//! Everything here is pure: the caller passes the identities of the connection that made the
//! request (they travel inside the log entry, so every member decides the same).

use base64::Engine;
use jute_codec::{Acl, ErrorCode, Id, Perms};
use sha1::{Digest, Sha1};

/// The `world:anyone` identity.
pub fn is_world_anyone(id: &Id) -> bool {
    id.scheme == "world" && id.id.as_deref() == Some("anyone")
}

/// `user:BASE64(SHA1("user:password"))` for the credentials `user:password`, as
/// `DigestAuthenticationProvider.generateDigest` computes it.
pub fn digest_id(credentials: &str) -> String {
    let user = credentials.split(':').next().unwrap_or_default();
    let hash = Sha1::digest(credentials.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Validates and expands an ACL list for create or setACL, as `PrepRequestProcessor.fixupACL`:
/// duplicates are dropped (first kept), `auth` expands to every authenticated id of the caller
/// (not `ip`), `world` must be `anyone`, digest ids must be `user:hash`, ip ids IPv4 with an
/// optional mask. Anything else is InvalidACL.
///
/// A null id (length −1) is MarshallingError where ZooKeeper 3.8.0 dereferences it (checked
/// live): in its duplicate check, when an earlier entry has the same perms and scheme, and in
/// validating a `world`, `digest` or `ip` entry. `auth` ignores its id (kazoo sends null).
pub fn fixup_acl(acl: &[Acl], auth: &[Id], providers: Providers) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for entry in acl {
        let same_kind =
            |kept: &&Acl| kept.perms == entry.perms && kept.id.scheme == entry.id.scheme;
        if entry.id.id.is_none() && unique.iter().any(same_kind) {
            return Err(ErrorCode::MarshallingError);
        }
        if !unique.contains(&entry) {
            unique.push(entry);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut fixed = Vec::with_capacity(unique.len());
    for entry in unique {
        let id = &entry.id;
        if id.id.is_none() && matches!(id.scheme.as_str(), "world" | "digest" | "ip") {
            return Err(ErrorCode::MarshallingError);
        }
        if is_world_anyone(id) {
            fixed.push(entry.clone());
        } else if id.scheme == "auth" {
            let mut any = false;
            for authed in auth
                .iter()
                .filter(|a| is_authenticated_scheme(&a.scheme, providers))
            {
                any = true;
                fixed.push(Acl {
                    perms: entry.perms,
                    id: authed.clone(),
                });
            }
            if !any {
                return Err(ErrorCode::InvalidAcl);
            }
        } else if is_valid_id(&id.scheme, id.id.as_deref(), providers) {
            fixed.push(entry.clone());
        } else {
            return Err(ErrorCode::InvalidAcl);
        }
    }
    Ok(fixed)
}

/// Schemes whose ids count as "authenticated" for the `auth` ACL scheme. The automatic `ip`
/// id does not; `super` has no provider of its own in ZooKeeper and is skipped.
fn is_authenticated_scheme(scheme: &str, providers: Providers) -> bool {
    match scheme {
        "digest" => true,
        "sasl" => providers.sasl,
        "x509" => providers.x509,
        _ => false,
    }
}

/// The auth providers a member has beyond ZooKeeper's defaults (digest and ip). An ACL of
/// a scheme without its provider is InvalidACL, as in ZooKeeper; since apply decides that on
/// every member, the proposing member's set travels in the Txn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Providers {
    /// `x509`: TLS is served (or `authProvider.N` names X509AuthenticationProvider).
    pub x509: bool,
    /// `sasl`: `authProvider.N` names SASLAuthenticationProvider.
    pub sasl: bool,
}

impl Providers {
    /// The set as bits (x509 = 1, sasl = 2), for the durable encoding.
    pub fn bits(self) -> i32 {
        i32::from(self.x509) | (i32::from(self.sasl) << 1)
    }

    /// The set from [`Providers::bits`]; unknown bits are ignored.
    pub fn from_bits(bits: i32) -> Providers {
        Providers {
            x509: bits & 1 != 0,
            sasl: bits & 2 != 0,
        }
    }
}

/// `isValid` of the providers registered: digest and ip always, x509 when TLS is served.
fn is_valid_id(scheme: &str, id: Option<&str>, providers: Providers) -> bool {
    let Some(id) = id else {
        return false;
    };
    match scheme {
        "digest" => java_split(id, ':').len() == 2,
        "ip" => parse_ip_acl(id).is_some(),
        "x509" => providers.x509 && is_distinguished_name(id),
        "sasl" => providers.sasl && crate::sasl::is_valid_sasl_id(id),
        _ => false,
    }
}

/// The attribute keywords Java's `X500Principal(String)` accepts (RFC 1779/2253 and its
/// own), any case; anything else must be a dotted OID.
const DN_KEYWORDS: &[&str] = &[
    "CN",
    "C",
    "L",
    "S",
    "ST",
    "O",
    "OU",
    "T",
    "IP",
    "STREET",
    "DC",
    "DNQUALIFIER",
    "DNQ",
    "SURNAME",
    "GIVENNAME",
    "INITIALS",
    "GENERATION",
    "EMAIL",
    "EMAILADDRESS",
    "UID",
    "SERIALNUMBER",
];

/// Whether `id` parses as a distinguished name the way Java's `X500Principal(String)` needs
/// (the `x509` provider's `isValid`): `type=value` pairs separated by unescaped `,` (or `;`)
/// and `+`, each type a known keyword or a dotted OID. An empty name is valid.
fn is_distinguished_name(id: &str) -> bool {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let (mut escaped, mut quoted) = (false, false);
    for c in id.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                current.push(c);
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' | ';' | '+' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if escaped || quoted {
        return false;
    }
    if id.trim().is_empty() {
        return true;
    }
    parts.push(current);
    parts.iter().all(|part| {
        let Some((kind, _value)) = part.split_once('=') else {
            return false;
        };
        let kind = kind.trim();
        let oid = kind
            .strip_prefix("OID.")
            .or_else(|| kind.strip_prefix("oid."))
            .unwrap_or(kind);
        DN_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(kind))
            || (!oid.is_empty()
                && oid.split('.').count() >= 2
                && oid
                    .split('.')
                    .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit())))
    })
}

/// Java's `String.split(sep)`: trailing empty strings are removed.
fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

/// True if a caller with identities `auth` may do `perm` on a node with `acl`
/// (`ZooKeeperServer.checkACL`).
pub fn check(acl: &[Acl], perm: Perms, auth: &[Id]) -> bool {
    if acl.is_empty() || auth.iter().any(|id| id.scheme == "super") {
        return true;
    }
    acl.iter()
        .filter(|entry| entry.perms.0 & perm.0 != 0)
        .any(|entry| {
            is_world_anyone(&entry.id)
                || auth
                    .iter()
                    .filter(|a| a.scheme == entry.id.scheme)
                    .any(|a| matches(&entry.id, a))
        })
}

/// Whether the caller's identity `authed` satisfies the ACL identity `acl_id` of the same scheme.
fn matches(acl_id: &Id, authed: &Id) -> bool {
    let (Some(expr), Some(who)) = (acl_id.id.as_deref(), authed.id.as_deref()) else {
        return false;
    };
    match acl_id.scheme.as_str() {
        "digest" | "x509" | "sasl" => expr == who,
        "ip" => match (parse_ip_acl(expr), parse_ipv4(who)) {
            (Some((net, bits)), Some(addr)) => masked(net, bits) == masked(addr, bits),
            _ => false,
        },
        _ => false,
    }
}

/// `a.b.c.d` or `a.b.c.d/bits` with bits in 0..=32. IPv6 is not valid in 3.8.
fn parse_ip_acl(expr: &str) -> Option<(u32, u32)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((addr, bits)) => (addr, bits.parse::<u32>().ok().filter(|b| *b <= 32)?),
        None => (expr, 32),
    };
    Some((parse_ipv4(addr)?, bits))
}

fn parse_ipv4(addr: &str) -> Option<u32> {
    addr.parse::<std::net::Ipv4Addr>().ok().map(u32::from)
}

fn masked(addr: u32, bits: u32) -> u32 {
    if bits == 0 {
        0
    } else {
        addr & (u32::MAX << (32 - bits))
    }
}

/// An ACL list as getACL shows it to a caller without ADMIN: digest ids become `user:x`.
pub fn mask_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|entry| {
            if entry.id.scheme == "digest" {
                let user = entry
                    .id
                    .id
                    .as_deref()
                    .and_then(|id| id.split(':').next())
                    .unwrap_or_default();
                Acl {
                    perms: entry.perms,
                    id: Id {
                        scheme: "digest".into(),
                        id: Some(format!("{user}:x")),
                    },
                }
            } else {
                entry.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The ZooKeeper default: digest and ip only.
    fn fixup_acl(acl: &[Acl], auth: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
        super::fixup_acl(acl, auth, Providers::default())
    }

    #[test]
    fn x509_ids_need_the_provider_and_a_distinguished_name() {
        let tls = Providers {
            x509: true,
            sasl: false,
        };
        let alice = "CN=alice,OU=test,O=raftzk,C=US";
        let entry = acl(31, "x509", alice);
        assert_eq!(
            fixup_acl(std::slice::from_ref(&entry), &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert!(super::fixup_acl(std::slice::from_ref(&entry), &[], tls).is_ok());
        assert_eq!(
            super::fixup_acl(&[acl(31, "x509", "not a dn ===")], &[], tls),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            super::fixup_acl(&[acl(31, "sasl", "bob")], &[], tls),
            Err(ErrorCode::InvalidAcl)
        );
        for good in [
            "CN=bob \\\"the\\\" builder,O=A\\, Inc.",
            "2.5.4.5=#13023432",
            "cn=a+uid=b",
            "OID.2.5.4.3=x",
        ] {
            assert!(is_distinguished_name(good), "{good}");
        }
        for bad in ["alice", "CN=a,", "FOO=bar", "CN=a\\"] {
            assert!(!is_distinguished_name(bad), "{bad}");
        }
        // auth expands to the certificate's id; the id matches by equality.
        let me = id("x509", alice);
        let fixed =
            super::fixup_acl(&[acl(31, "auth", "")], std::slice::from_ref(&me), tls).unwrap();
        assert_eq!(fixed, vec![entry.clone()]);
        assert!(check(&fixed, Perms::READ, std::slice::from_ref(&me)));
        assert!(!check(&fixed, Perms::READ, &[id("x509", "CN=mallory")]));
        assert_eq!(Providers::from_bits(tls.bits()), tls);
    }

    fn id(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.into(),
            id: Some(id.into()),
        }
    }

    fn acl(perms: i32, scheme: &str, who: &str) -> Acl {
        Acl {
            perms: Perms(perms),
            id: id(scheme, who),
        }
    }

    #[test]
    fn digest_matches_the_protocol_example() {
        assert_eq!(digest_id("user:pass"), "user:smGaoVKd/cQkjm7b88GyorAUz20=");
    }

    #[test]
    fn fixup_rules() {
        let world = acl(31, "world", "anyone");
        assert_eq!(fixup_acl(&[], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fixup_acl(&[world.clone(), world.clone()], &[]),
            Ok(vec![world.clone()])
        );
        assert_eq!(
            fixup_acl(&[acl(31, "world", "someone")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[acl(31, "super", "x")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[acl(31, "digest", "user")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[acl(31, "digest", "a:b:c")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert!(fixup_acl(&[acl(31, "digest", "user:hash")], &[]).is_ok());
        assert!(fixup_acl(&[acl(31, "ip", "10.0.0.0/8")], &[]).is_ok());
        assert_eq!(
            fixup_acl(&[acl(31, "ip", "::1")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[acl(31, "ip", "10.0.0.1/33")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        // auth with only the automatic ip id is invalid; with a digest id it expands.
        let null_auth = Acl {
            perms: Perms(31),
            id: Id {
                scheme: "auth".into(),
                id: None,
            },
        };
        assert_eq!(
            fixup_acl(std::slice::from_ref(&null_auth), &[id("ip", "127.0.0.1")]),
            Err(ErrorCode::InvalidAcl)
        );
        let me = id("digest", "user:hash");
        assert_eq!(
            fixup_acl(&[null_auth], &[id("ip", "127.0.0.1"), me.clone()]),
            Ok(vec![Acl {
                perms: Perms(31),
                id: me
            }])
        );
        // Null ids, as ZooKeeper 3.8.0 answers them: MarshallingError where it dereferences
        // the id (world, digest, ip; a duplicate check against the same perms and scheme),
        // InvalidACL where it never looks (unknown schemes).
        let null = |perms: i32, scheme: &str| Acl {
            perms: Perms(perms),
            id: Id {
                scheme: scheme.into(),
                id: None,
            },
        };
        for scheme in ["world", "digest", "ip"] {
            assert_eq!(
                fixup_acl(&[null(31, scheme)], &[]),
                Err(ErrorCode::MarshallingError)
            );
        }
        assert_eq!(
            fixup_acl(&[null(31, "foo")], &[]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&[world.clone(), null(31, "world")], &[]),
            Err(ErrorCode::MarshallingError)
        );
        assert_eq!(
            fixup_acl(&[acl(1, "foo", "x"), null(31, "foo")], &[]),
            Err(ErrorCode::InvalidAcl),
            "different perms: no comparison of ids"
        );
    }

    #[test]
    fn checks() {
        let ip = id("ip", "10.1.2.3");
        let user = id("digest", "user:hash");
        assert!(check(&[], Perms::ADMIN, &[]));
        assert!(check(&[acl(1, "world", "anyone")], Perms::READ, &[]));
        assert!(!check(&[acl(1, "world", "anyone")], Perms::WRITE, &[]));
        assert!(check(
            &[acl(31, "ip", "10.0.0.0/8")],
            Perms::READ,
            std::slice::from_ref(&ip)
        ));
        assert!(!check(
            &[acl(31, "ip", "10.1.2.4")],
            Perms::READ,
            std::slice::from_ref(&ip)
        ));
        assert!(check(
            &[acl(2, "digest", "user:hash")],
            Perms::WRITE,
            std::slice::from_ref(&user)
        ));
        assert!(!check(
            &[acl(0, "digest", "user:hash")],
            Perms::READ,
            &[user]
        ));
        assert!(check(
            &[acl(0, "world", "anyone")],
            Perms::READ,
            &[id("super", "")]
        ));
    }

    #[test]
    fn masks_digests_for_non_admins() {
        let masked = mask_digests(&[acl(31, "digest", "user:hash"), acl(1, "world", "anyone")]);
        assert_eq!(masked[0].id.id.as_deref(), Some("user:x"));
        assert_eq!(masked[1].id.id.as_deref(), Some("anyone"));
    }
}
