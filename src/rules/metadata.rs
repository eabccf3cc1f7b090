//! Checks of the OCI pre-defined keys (`org.opencontainers.image.*`) a
//! spec sets as labels: known keys only, not the ones bimanix writes from
//! other fields, and a digest where a digest belongs.

use crate::model::diagnostic::Diagnostic;
use crate::model::metadata::{BASE_DIGEST, PREFIX, USER_KEYS};
use crate::model::spec::Spec;
use crate::rules::suggest::did_you_mean;

/// Adds an error for each OCI key among the spec's labels that is unknown,
/// written by bimanix from another field, or of the wrong form.
pub fn check(spec: &Spec, errors: &mut Vec<Diagnostic>) {
    for (key, value) in &spec.labels {
        let problem = check_key(key).and_then(|()| check_value(key, value));
        if let Err(e) = problem {
            // Keyed as the args reader notes them: a key with dots is quoted.
            errors.push(spec.locations.diag(&format!("labels.{key:?}"), e));
        }
    }
}

/// What is wrong with the label key `key`, if anything, with what to do
/// instead after `; `.
fn check_key(key: &str) -> Result<(), String> {
    let Some(short) = key.strip_prefix(PREFIX) else { return Ok(()) };
    match short {
        "created" => Err("bimanix writes the creation time; set `created` (or SOURCE_DATE_EPOCH) instead".into()),
        "ref.name" => Err("bimanix writes the reference name from the tag; set `tag` instead".into()),
        _ if USER_KEYS.contains(&short) => Ok(()),
        _ => {
            let hint =
                did_you_mean(short, USER_KEYS).map_or(String::new(), |s| format!("; did you mean `{PREFIX}{s}`?"));
            Err(format!("unknown OCI key (the keys are {PREFIX}{{{}}}){hint}", USER_KEYS.join(",")))
        }
    }
}

/// What is wrong with the value of `key`, if anything.
fn check_value(key: &str, value: &str) -> Result<(), String> {
    if key == BASE_DIGEST {
        let hex = value.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(format!("{value:?} is not a digest like sha256:<64 hex digits>"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(check_key("org.opencontainers.image.title").is_ok());
        assert!(check_key("com.example.anything").is_ok());
        let e = check_key("org.opencontainers.image.licences").unwrap_err();
        assert!(e.ends_with("; did you mean `org.opencontainers.image.licenses`?"), "{e}");
        assert!(check_key("org.opencontainers.image.created").unwrap_err().contains("`created`"));
        assert!(check_key("org.opencontainers.image.ref.name").unwrap_err().contains("`tag`"));
    }

    #[test]
    fn digests() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(check_value(BASE_DIGEST, &good).is_ok());
        assert!(check_value(BASE_DIGEST, "sha256:abc").is_err());
        assert!(check_value(BASE_DIGEST, &good.to_uppercase()).is_err());
        assert!(check_value("org.opencontainers.image.title", "sha256:abc").is_ok());
    }
}
