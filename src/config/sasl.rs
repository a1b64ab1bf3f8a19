//! What zoo.cfg and the JVM flags say about SASL: the JAAS file
//! (`java.security.auth.login.config`), its section, and the super user's password; the
//! `sasl` module reads the file at start-up.

use std::path::PathBuf;

/// SASL's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSettings {
    /// `java.security.auth.login.config`: the JAAS file (none: SASL off).
    pub jaas_file: Option<PathBuf>,
    /// `zookeeper.sasl.serverconfig`: the JAAS section (`Server`).
    pub section: String,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`: user `super`'s password.
    pub super_password: Option<String>,
}

impl Default for SaslSettings {
    fn default() -> SaslSettings {
        SaslSettings {
            jaas_file: None,
            section: "Server".into(),
            super_password: None,
        }
    }
}

/// `-Dkey=value` properties from JVM flags (`SERVER_JVMFLAGS`, `JVMFLAGS`), as ZooKeeper's
/// start script passes them: the only way to name a JAAS file, and a common one for other
/// `zookeeper.*` properties.
pub fn jvm_properties(flags: &str) -> Vec<(String, String)> {
    flags
        .split_whitespace()
        .filter_map(|flag| flag.strip_prefix("-D"))
        .map(|prop| match prop.split_once('=') {
            Some((k, v)) => (k.to_string(), v.trim_matches('"').to_string()),
            None => (prop.to_string(), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jvm_flags_give_properties() {
        let props = jvm_properties(
            "-Xmx1g -Djava.security.auth.login.config=/etc/zk/jaas.conf -Dzookeeper.superUser=\"admin\" -Dflag",
        );
        assert_eq!(
            props,
            vec![
                (
                    "java.security.auth.login.config".to_string(),
                    "/etc/zk/jaas.conf".to_string()
                ),
                ("zookeeper.superUser".to_string(), "admin".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
    }
}
