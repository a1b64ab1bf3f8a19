//! SASL on the client connection (opcode 102) as ZooKeeper 3.8 serves it: DIGEST-MD5 against
//! the users of the JAAS file's `Server` section (`user_<name>="<password>"`), read once at
//! start-up. Kerberos (GSSAPI) is not served: a section that asks for it stops start-up.
//!
//! A conversation belongs to one connection: the first token gets the challenge, the
//! response is verified, and the connection gains `sasl:<username>` (and `super` for a user
//! named by `superUser`). A resumed session on a new socket has no `sasl` id until the client
//! authenticates again, as in ZooKeeper.

pub mod digest_md5;
pub mod jaas;

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;

use crate::config::SaslSettings;

/// The login module whose `user_<name>` options are DIGEST-MD5 credentials.
const DIGEST_LOGIN_MODULE: &str = "DigestLoginModule";
/// Kerberos: a JAAS section that names it asks for GSSAPI.
const KERBEROS_LOGIN_MODULE: &str = "Krb5LoginModule";

/// SASL cannot be served as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The JAAS file cannot be read.
    #[error("java.security.auth.login.config={path}: {reason}")]
    Jaas {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The server's DIGEST-MD5 users.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslServer {
    users: BTreeMap<String, String>,
}

impl std::fmt::Debug for SaslServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslServer")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SaslServer {
    /// The users of the JAAS file's section, or None when no file is named or it has no
    /// such section (SASL is then off, as in ZooKeeper: a SASL packet gets an empty reply).
    pub fn load(settings: &SaslSettings) -> Result<Option<SaslServer>, SaslError> {
        let Some(path) = &settings.jaas_file else {
            return Ok(None);
        };
        let fail = |reason: String| SaslError::Jaas {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let sections = jaas::parse(&text).map_err(|e| fail(e.to_string()))?;
        let Some(section) = sections.iter().find(|s| s.name == settings.section) else {
            return Ok(None);
        };
        let mut users = BTreeMap::new();
        for entry in &section.entries {
            if entry.module.ends_with(KERBEROS_LOGIN_MODULE) {
                return Err(fail(format!(
                    "section {} uses {}: Kerberos (GSSAPI) is not served by raftzk; use DigestLoginModule",
                    section.name, entry.module
                )));
            }
            if !entry.module.ends_with(DIGEST_LOGIN_MODULE) {
                return Err(fail(format!(
                    "section {}: login module {} is not served (DigestLoginModule is)",
                    section.name, entry.module
                )));
            }
            for (key, value) in &entry.options {
                if let Some(user) = key.strip_prefix("user_") {
                    users.insert(user.to_string(), value.clone());
                }
            }
        }
        if let Some(password) = &settings.super_password {
            users.insert("super".to_string(), password.clone());
        }
        Ok(Some(SaslServer { users }))
    }

    /// The users' names (for the start-up log).
    pub fn user_names(&self) -> Vec<&str> {
        self.users.keys().map(String::as_str).collect()
    }

    fn password(&self, user: &str) -> Option<String> {
        self.users.get(user).cloned()
    }
}

/// One connection's SASL exchange.
#[derive(Debug, Default)]
pub struct Conversation {
    state: State,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Initial,
    ChallengeSent(String),
    Complete,
}

/// What to answer a SASL packet with.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The challenge: reply with this token and wait for the response.
    Challenge(Vec<u8>),
    /// Authenticated: reply with this token; the connection is `sasl:<username>`.
    Authenticated {
        /// The authenticated user.
        username: String,
        /// The `rspauth` token.
        token: Vec<u8>,
    },
    /// Refused (the reason is for the log).
    Failed(String),
}

impl Conversation {
    /// The next step for a client token. Any first token gets the challenge (the JDK
    /// ignores an initial response); a packet after success is refused ("illegal state").
    pub fn step(&mut self, server: &SaslServer, token: &[u8]) -> Step {
        match std::mem::take(&mut self.state) {
            State::Initial => match nonce() {
                Ok(nonce) => {
                    let challenge = digest_md5::challenge(&nonce);
                    self.state = State::ChallengeSent(nonce);
                    Step::Challenge(challenge.into_bytes())
                }
                Err(e) => Step::Failed(format!("no randomness for a nonce: {e}")),
            },
            State::ChallengeSent(nonce) => {
                match digest_md5::verify(token, &nonce, |user| server.password(user)) {
                    Ok(verified) => {
                        self.state = State::Complete;
                        Step::Authenticated {
                            username: verified.username,
                            token: verified.rspauth.into_bytes(),
                        }
                    }
                    Err(reason) => Step::Failed(reason),
                }
            }
            State::Complete => {
                self.state = State::Complete;
                Step::Failed("SASL packet after authentication completed (illegal state)".into())
            }
        }
    }
}

/// 30 random bytes in base64: 40 characters, the nonce length the JDK uses.
fn nonce() -> std::io::Result<String> {
    let mut bytes = [0u8; 30];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Whether `id` is a valid `sasl` ACL id: ZooKeeper's KerberosName pattern,
/// `name[/host][@REALM]` with no empty part.
pub fn is_valid_sasl_id(id: &str) -> bool {
    let (rest, realm) = match id.split_once('@') {
        Some((rest, realm)) => (rest, Some(realm)),
        None => (id, None),
    };
    let (name, host) = match rest.split_once('/') {
        Some((name, host)) => (name, Some(host)),
        None => (rest, None),
    };
    let part_ok = |p: &str| !p.is_empty() && !p.contains(['/', '@']);
    part_ok(name) && host.is_none_or(part_ok) && realm.is_none_or(part_ok)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn server() -> SaslServer {
        SaslServer {
            users: [("bob".to_string(), "bobsecret".to_string())].into(),
        }
    }

    #[test]
    fn a_conversation_challenges_then_verifies_once() {
        let server = server();
        let mut conversation = Conversation::default();
        let Step::Challenge(challenge) = conversation.step(&server, b"anything") else {
            panic!("no challenge");
        };
        let challenge = String::from_utf8(challenge).unwrap();
        assert!(challenge.starts_with("realm=\"zk-sasl-md5\",nonce=\""));
        assert_eq!(
            challenge.len(),
            "realm=\"zk-sasl-md5\",nonce=\"\",charset=utf-8,algorithm=md5-sess".len() + 40
        );
        assert!(matches!(
            conversation.step(&server, b"garbage"),
            Step::Failed(_)
        ));
    }

    #[test]
    fn jaas_sections_give_users_or_refuse_kerberos() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jaas.conf");
        std::fs::write(
            &path,
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_bob=\"b\" user_super=\"s\"; };",
        )
        .unwrap();
        let settings = SaslSettings {
            jaas_file: Some(path.clone()),
            section: "Server".into(),
            super_password: Some("override".into()),
        };
        let server = SaslServer::load(&settings).unwrap().unwrap();
        assert_eq!(server.password("super").as_deref(), Some("override"));
        assert_eq!(server.user_names(), vec!["bob", "super"]);
        let other = SaslSettings {
            section: "Other".into(),
            ..settings.clone()
        };
        assert_eq!(SaslServer::load(&other).unwrap(), None);
        std::fs::write(
            &path,
            "Server { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true; };",
        )
        .unwrap();
        assert!(SaslServer::load(&settings).is_err());
    }

    #[test]
    fn sasl_ids_follow_kerberos_names() {
        for ok in [
            "bob",
            "bob@EXAMPLE.COM",
            "zookeeper/host@EXAMPLE.COM",
            "svc/host",
        ] {
            assert!(is_valid_sasl_id(ok), "{ok}");
        }
        for bad in ["", "a@b@c", "a/b/c", "@REALM", "bob@", "/host"] {
            assert!(!is_valid_sasl_id(bad), "{bad}");
        }
    }
}
