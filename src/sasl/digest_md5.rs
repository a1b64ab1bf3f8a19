//! The server side of DIGEST-MD5 (RFC 2831) exactly as ZooKeeper 3.8 runs it through the
//! JDK: protocol `zookeeper`, realm and server name `zk-sasl-md5`, qop `auth` only, one
//! challenge then one response. What the JDK refuses is refused here with the same outcome
//! (a failure; the reason goes to the log).

use md5::{Digest, Md5};

/// The realm and server name ZooKeeper hard-codes.
pub const REALM: &str = "zk-sasl-md5";
/// The digest-uri a client must use: `zookeeper/zk-sasl-md5` (any case).
pub const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";

/// The server's challenge for `nonce`.
pub fn challenge(nonce: &str) -> String {
    format!("realm=\"{REALM}\",nonce=\"{nonce}\",charset=utf-8,algorithm=md5-sess")
}

/// A verified response: who it is and the token that proves the server knew the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The username (the id is always the username; an authzid is ignored, as in ZooKeeper).
    pub username: String,
    /// `rspauth=…`, the server's reply.
    pub rspauth: String,
}

/// Checks a client's response to the challenge that carried `nonce`; `password` looks a
/// user's password up. The error is the reason for the log.
pub fn verify(
    response: &[u8],
    nonce: &str,
    password: impl Fn(&str) -> Option<String>,
) -> Result<Verified, String> {
    let text = std::str::from_utf8(response).map_err(|_| "response is not UTF-8".to_string())?;
    let fields = directives(text)?;
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    };
    let realm = get("realm").ok_or("Nonexistent realm")?;
    if realm != REALM {
        return Err(format!("Nonexistent realm: {realm}"));
    }
    if get("nonce") != Some(nonce) {
        return Err("Nonces do not match".into());
    }
    let nc = get("nc").ok_or("no nc")?;
    if nc != "00000001" {
        return Err(format!("Nonce count does not match: {nc}"));
    }
    let qop = get("qop").unwrap_or("auth");
    if qop != "auth" {
        return Err(format!("unsupported qop {qop}"));
    }
    let digest_uri = get("digest-uri").ok_or("no digest-uri")?;
    if !digest_uri.eq_ignore_ascii_case(DIGEST_URI) {
        return Err(format!("Mismatched URI: {digest_uri}"));
    }
    let username = get("username").ok_or("no username")?;
    let cnonce = get("cnonce").ok_or("no cnonce")?;
    let claimed = get("response").ok_or("no response")?;
    let authzid = get("authzid");
    // An unknown user and a wrong password look alike to the client.
    let Some(secret) = password(username) else {
        return Err(format!("Mismatched response (no user {username:?})"));
    };
    let params = Params {
        username,
        password: &secret,
        nonce,
        cnonce,
        nc,
        qop,
        digest_uri,
        authzid,
    };
    let expected = params.response("AUTHENTICATE:");
    if !constant_time_eq(expected.as_bytes(), claimed.to_ascii_lowercase().as_bytes()) {
        return Err("Mismatched response".into());
    }
    Ok(Verified {
        username: username.to_string(),
        rspauth: format!("rspauth={}", params.response(":")),
    })
}

struct Params<'a> {
    username: &'a str,
    password: &'a str,
    nonce: &'a str,
    cnonce: &'a str,
    nc: &'a str,
    qop: &'a str,
    digest_uri: &'a str,
    authzid: Option<&'a str>,
}

impl Params<'_> {
    /// `response-value` of RFC 2831 §2.1.2.1; `a2_prefix` is `AUTHENTICATE:` for the
    /// client's response and `:` for the server's rspauth.
    fn response(&self, a2_prefix: &str) -> String {
        let mut user_realm_password = Vec::new();
        for (i, part) in [self.username, REALM, self.password].iter().enumerate() {
            if i > 0 {
                user_realm_password.push(b':');
            }
            user_realm_password.extend(rfc2831_bytes(part));
        }
        let mut a1 = Md5::digest(&user_realm_password).to_vec();
        a1.extend_from_slice(format!(":{}:{}", self.nonce, self.cnonce).as_bytes());
        if let Some(authzid) = self.authzid {
            a1.push(b':');
            a1.extend_from_slice(authzid.as_bytes());
        }
        let ha1 = hex(&Md5::digest(&a1));
        let ha2 = hex(&Md5::digest(format!("{a2_prefix}{}", self.digest_uri)));
        hex(&Md5::digest(format!(
            "{ha1}:{}:{}:{}:{}:{ha2}",
            self.nonce, self.nc, self.cnonce, self.qop
        )))
    }
}

/// With `charset=utf-8`, RFC 2831 hashes user, realm and password as ISO-8859-1 when every
/// character fits, else as UTF-8.
fn rfc2831_bytes(s: &str) -> Vec<u8> {
    if s.chars().all(|c| u32::from(c) <= 0xff) {
        s.chars().map(|c| c as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `key=value` and `key="quoted value"` directives separated by commas, any order.
fn directives(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("directive {key:?} has no value"));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => value.extend(chars.next()),
                    _ => value.push(c),
                }
            }
            if !closed {
                return Err(format!("directive {key:?}: unterminated quote"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn bob(user: &str) -> Option<String> {
        (user == "bob").then(|| "bobsecret".to_string())
    }

    /// Captured from kazoo (pure-sasl) against ZooKeeper 3.8.0: no authzid.
    #[test]
    fn kazoo_vector() {
        let nonce = "4QUdwvCWMlqxvfUVg6Uq6Bjg0UYtKa13/mOjbCzw";
        let response = format!(
            "qop=auth,realm=\"zk-sasl-md5\",username=\"bob\",nonce=\"{nonce}\",cnonce=\"44600500268818155\",nc=00000001,digest-uri=\"zookeeper/zk-sasl-md5\",response=04202af8b274ec2479a49981b5d41abd"
        );
        let ok = verify(response.as_bytes(), nonce, bob).unwrap();
        assert_eq!(ok.username, "bob");
        assert_eq!(ok.rspauth, "rspauth=af21aa233ed0d9ae9e13f25c65f705f8");
    }

    /// Captured from the Java client: the authzid is part of A1.
    #[test]
    fn java_vector_with_authzid() {
        let nonce = "53IUySdxEeNT6Y+BFAm8zNJ+FyxMrKklnoisaLs5";
        let response = format!(
            "charset=utf-8,username=\"bob\",realm=\"zk-sasl-md5\",nonce=\"{nonce}\",nc=00000001,cnonce=\"KrtENO1TRpA1PQMVDapDLma7U2K+S4xn/J1sBFGb\",digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,response=babfdfa8fa5bbfe42b606633b5074445,qop=auth,authzid=\"bob\""
        );
        assert_eq!(
            verify(response.as_bytes(), nonce, bob).unwrap().username,
            "bob"
        );
    }

    #[test]
    fn what_the_jdk_refuses() {
        let nonce = "4QUdwvCWMlqxvfUVg6Uq6Bjg0UYtKa13/mOjbCzw";
        let good = format!(
            "qop=auth,realm=\"zk-sasl-md5\",username=\"bob\",nonce=\"{nonce}\",cnonce=\"44600500268818155\",nc=00000001,digest-uri=\"zookeeper/zk-sasl-md5\",response=04202af8b274ec2479a49981b5d41abd"
        );
        assert!(verify(good.as_bytes(), nonce, bob).is_ok());
        for (from, to) in [
            ("realm=\"zk-sasl-md5\",", ""),
            ("realm=\"zk-sasl-md5\"", "realm=\"other\""),
            ("nc=00000001", "nc=00000002"),
            ("qop=auth,", "qop=auth-int,"),
            ("zookeeper/zk-sasl-md5", "zookeeper/localhost"),
            ("response=0", "response=1"),
            ("username=\"bob\"", "username=\"alice\""),
        ] {
            let bad = good.replacen(from, to, 1);
            assert!(verify(bad.as_bytes(), nonce, bob).is_err(), "{bad}");
        }
        assert!(verify(good.as_bytes(), "another nonce", bob).is_err());
        let upper = good.replace("zookeeper/zk-sasl-md5", "zookeeper/ZK-SASL-MD5");
        // The digest-uri is compared in any case, but hashed as sent: a different response.
        assert!(verify(upper.as_bytes(), nonce, bob).is_err());
        assert!(verify(b"garbage", nonce, bob).is_err());
        assert!(verify(&[0xff, 0xfe], nonce, bob).is_err());
    }

    #[test]
    fn the_challenge_is_zookeepers() {
        assert_eq!(
            challenge("abc"),
            "realm=\"zk-sasl-md5\",nonce=\"abc\",charset=utf-8,algorithm=md5-sess"
        );
    }
}
