//! A JAAS login configuration file as Java reads it (`java.security.auth.login.config`):
//! sections of login module entries with options.
//!
//! ```text
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_super="adminsecret"
//!     user_bob="bobsecret";
//! };
//! ```
//! `//` and `/* */` comments; option values quoted (with `\` escapes) or bare words.

/// One login module line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The login module's Java class.
    pub module: String,
    /// required, requisite, sufficient or optional.
    pub flag: String,
    /// Its options, in file order.
    pub options: Vec<(String, String)>,
}

/// A named section (`Server`, `Client`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section's name.
    pub name: String,
    /// Its entries.
    pub entries: Vec<Entry>,
}

/// Why a JAAS file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct JaasError {
    /// The 1-based line the problem is on.
    pub line: usize,
    /// What was expected.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semi,
    Equals,
}

fn tokens(text: &str) -> Result<Vec<(Token, usize)>, JaasError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '{' => out.push((Token::Open, line)),
            '}' => out.push((Token::Close, line)),
            ';' => out.push((Token::Semi, line)),
            '=' => out.push((Token::Equals, line)),
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if last == '*' && c == '/' {
                        closed = true;
                        break;
                    }
                    last = c;
                }
                if !closed {
                    return Err(JaasError {
                        line,
                        reason: "unterminated /* comment".into(),
                    });
                }
            }
            '"' => {
                let start = line;
                let mut value = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => {
                            if let Some(next) = chars.next() {
                                value.push(next);
                            }
                        }
                        '\n' => {
                            line += 1;
                            value.push(c);
                        }
                        _ => value.push(c),
                    }
                }
                if !closed {
                    return Err(JaasError {
                        line: start,
                        reason: "unterminated quoted value".into(),
                    });
                }
                out.push((Token::Quoted(value), start));
            }
            _ => {
                let mut word = String::from(c);
                while let Some(&next) = chars.peek() {
                    if next.is_whitespace() || "{};=\"".contains(next) {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                out.push((Token::Word(word), line));
            }
        }
    }
    Ok(out)
}

/// Parses a whole file.
pub fn parse(text: &str) -> Result<Vec<Section>, JaasError> {
    let tokens = tokens(text)?;
    let mut it = tokens.into_iter().peekable();
    let mut sections = Vec::new();
    let last_line = text.lines().count().max(1);
    let expected = |what: &str, got: Option<(Token, usize)>| JaasError {
        line: got.as_ref().map_or(last_line, |(_, l)| *l),
        reason: format!(
            "expected {what}, found {}",
            got.map_or("the end of the file".to_string(), |(t, _)| format!("{t:?}"))
        ),
    };
    while let Some(token) = it.next() {
        let name = match token {
            (Token::Word(name), _) => name,
            other => return Err(expected("a section name", Some(other))),
        };
        match it.next() {
            Some((Token::Open, _)) => {}
            other => return Err(expected("{", other)),
        }
        let mut entries = Vec::new();
        loop {
            match it.next() {
                Some((Token::Close, _)) => break,
                Some((Token::Word(module), _)) => {
                    let flag = match it.next() {
                        Some((Token::Word(flag), _)) => flag,
                        other => return Err(expected("a control flag", other)),
                    };
                    let mut options = Vec::new();
                    loop {
                        match it.next() {
                            Some((Token::Semi, _)) => break,
                            Some((Token::Word(key), _)) => {
                                match it.next() {
                                    Some((Token::Equals, _)) => {}
                                    other => return Err(expected("=", other)),
                                }
                                let value = match it.next() {
                                    Some((Token::Quoted(v) | Token::Word(v), _)) => v,
                                    other => return Err(expected("a value", other)),
                                };
                                options.push((key, value));
                            }
                            other => return Err(expected("an option or ;", other)),
                        }
                    }
                    entries.push(Entry {
                        module,
                        flag,
                        options,
                    });
                }
                other => return Err(expected("a login module or }", other)),
            }
        }
        match it.next() {
            Some((Token::Semi, _)) => {}
            other => return Err(expected("; after }", other)),
        }
        sections.push(Section { name, entries });
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn zookeepers_server_and_client_sections() {
        let text = r#"
            // the server's users
            Server {
                org.apache.zookeeper.server.auth.DigestLoginModule required
                user_super="admin\"secret"
                /* a comment */ user_bob="bobsecret";
            };
            Client {
                org.apache.zookeeper.server.auth.DigestLoginModule required
                username="bob" password=bobsecret;
            };
        "#;
        let sections = parse(text).unwrap();
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0].name, "Server");
        let entry = &sections[0].entries[0];
        assert_eq!(entry.flag, "required");
        assert_eq!(
            entry.options,
            vec![
                ("user_super".to_string(), "admin\"secret".to_string()),
                ("user_bob".to_string(), "bobsecret".to_string())
            ]
        );
        assert_eq!(sections[1].entries[0].options[1].1, "bobsecret");
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse("Server {\n  Module required\n  user_a=\"x\";\n};\nBroken").unwrap_err();
        assert_eq!(err.line, 5);
        assert_eq!(
            parse("Server {\n Module required user=\"x;\n};")
                .unwrap_err()
                .line,
            2
        );
        assert!(parse("Server { M required a=1; }").is_err());
        assert!(parse("").unwrap().is_empty());
    }
}
