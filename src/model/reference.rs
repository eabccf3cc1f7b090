//! Image names and tags: Docker's rules for what it accepts, and the fully
//! qualified name that containerd records in an OCI index.

/// Checks `name` and `tag` against Docker's reference grammar, returning a
/// message that says what is allowed when they break it.
pub fn check(name: &str, tag: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the image name is empty".into());
    }
    let (domain, path) = split_domain(name);
    if let Some(d) = domain {
        let (host, port) = match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        };
        let host_ok = !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            });
        if !host_ok || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit())) {
            return Err(format!("registry {d:?} in name {name:?} is not a host name with an optional :port"));
        }
    }
    for component in path.split('/') {
        if !component_ok(component) {
            return Err(format!(
                "name {name:?}: component {component:?} must be lowercase letters and digits, separated by '.', '_', '__' or dashes, and must not be empty"
            ));
        }
    }
    if name.len() > 255 {
        return Err(format!("name {name:?} is longer than 255 characters"));
    }
    let tag_ok = tag.len() <= 128
        && tag.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        && tag.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if !tag_ok {
        return Err(format!(
            "tag {tag:?} must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ));
    }
    Ok(())
}

/// The name as containerd and Docker 25+ record it in `index.json`:
/// `hello` becomes `docker.io/library/hello`, `me/hello` becomes
/// `docker.io/me/hello`, names with a registry stay as they are.
pub fn qualified(name: &str) -> String {
    match split_domain(name) {
        (Some(_), _) => name.to_string(),
        (None, path) if path.contains('/') => format!("docker.io/{path}"),
        (None, path) => format!("docker.io/library/{path}"),
    }
}

/// Splits an image reference as archives record it into its name and tag:
/// `docker.io/library/hello:v1` is (`docker.io/library/hello`, `v1`),
/// `localhost:5000/x` has no tag, and a bare word without `/` or `:` (an
/// OCI `ref.name`, which usually holds only the tag) is a tag without a
/// name. A `@digest` suffix is dropped.
pub fn split(reference: &str) -> (Option<&str>, Option<&str>) {
    let reference = reference.split_once('@').map_or(reference, |(r, _)| r);
    if !reference.contains('/') && !reference.contains(':') {
        return (None, Some(reference).filter(|t| !t.is_empty()));
    }
    let last = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last..].rfind(':') {
        Some(i) => (Some(&reference[..last + i]), Some(&reference[last + i + 1..])),
        None => (Some(reference), None),
    }
}

/// Splits off the registry host: the first component counts as one when
/// it has a dot or a port, or is `localhost`, as Docker decides.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-", between alphanumerics.
        let start = i;
        while i < b.len() && !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|s| s == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_docker_names() {
        for (n, t) in [
            ("hello", "latest"),
            ("hello-rumprun", "v1.0_x"),
            ("me/app", "1"),
            ("harbor.nbfc.io/nubificus/urunc/nginx", "test"),
            ("localhost:5000/a__b/c.d", "X"),
            ("a--b", "_t"),
        ] {
            assert_eq!(check(n, t), Ok(()), "{n}:{t}");
        }
    }

    #[test]
    fn refuses_what_docker_refuses() {
        for (n, t) in [
            ("Hello", "latest"),
            ("", "latest"),
            ("a//b", "x"),
            ("a/", "x"),
            ("-a", "x"),
            ("a_-b", "x"),
            ("a...b", "x"),
            ("ok", ""),
            ("ok", ".x"),
            ("ok", "a:b"),
            ("ok", &"t".repeat(129)),
            ("host:port/x", "1"),
        ] {
            assert!(check(n, t).is_err(), "{n}:{t}");
        }
    }

    #[test]
    fn qualifies_like_containerd() {
        assert_eq!(qualified("hello"), "docker.io/library/hello");
        assert_eq!(qualified("me/hello"), "docker.io/me/hello");
        assert_eq!(qualified("ghcr.io/me/hello"), "ghcr.io/me/hello");
        assert_eq!(qualified("localhost/x"), "localhost/x");
    }

    #[test]
    fn splits_references_into_name_and_tag() {
        assert_eq!(split("docker.io/library/hello:v1"), (Some("docker.io/library/hello"), Some("v1")));
        assert_eq!(split("hello:latest"), (Some("hello"), Some("latest")));
        assert_eq!(split("localhost:5000/x"), (Some("localhost:5000/x"), None));
        assert_eq!(split("localhost:5000/x:2@sha256:00"), (Some("localhost:5000/x"), Some("2")));
        assert_eq!(split("v1"), (None, Some("v1")));
        assert_eq!(split("me/hello"), (Some("me/hello"), None));
    }
}
