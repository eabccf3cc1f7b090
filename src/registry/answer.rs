//! Reading what a registry answers besides the status: its error bodies
//! (the distribution API's `{"errors": [...]}`, or anything else, in one
//! line), `Retry-After`, and `Docker-Content-Digest`. Pure functions of
//! text, so that they can be fuzzed.

use std::time::Duration;

/// A registry's error answer in one line: the distribution API's
/// `{"errors":[{"code","message"}]}`, else the start of the body.
pub fn error_summary(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: Option<serde_json::Value>,
        #[serde(default)]
        message: Option<serde_json::Value>,
    }
    let text = |v: &Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    if let Ok(errors) = serde_json::from_str::<Errors>(body)
        && !errors.errors.is_empty()
    {
        let joined = errors
            .errors
            .iter()
            .take(10)
            .map(|e| format!("{}: {}", text(&e.code), text(&e.message)).trim_matches([' ', ':']).to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return one_line(&joined, 400);
    }
    let text = one_line(body, 200);
    if text.is_empty() { "(no details)".to_string() } else { text }
}

/// `text` on one line, whitespace and control characters collapsed, at
/// most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect()
}

/// `Retry-After` in seconds (its HTTP-date form is not honoured).
pub fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Whether a `Docker-Content-Digest` answer names `digest` (a registry may
/// write the hex in capitals; spaces around it are not part of it).
pub fn same_digest(stored: &str, digest: &str) -> bool {
    stored.trim().eq_ignore_ascii_case(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_error_bodies() {
        let body = r#"{"errors":[{"code":"DENIED","message":"no push","detail":{}},{"code":"X"}]}"#;
        assert_eq!(error_summary(body), "DENIED: no push; X");
        assert_eq!(error_summary(r#"{"errors":[{"code":7,"message":null}]}"#), "7");
        assert_eq!(error_summary("<html>\n  <b>bad\tgateway</b>\r\n"), "<html> <b>bad gateway</b>");
        assert_eq!(error_summary(""), "(no details)");
        assert!(error_summary(&"x".repeat(10_000)).len() == 200);
    }

    #[test]
    fn reads_headers() {
        assert_eq!(retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert!(same_digest(" sha256:ABC ", "sha256:abc"));
        assert!(!same_digest("sha256:abd", "sha256:abc"));
    }
}
