//! Image names and tags: Docker's rules for what it accepts, the fully
//! qualified name that containerd records in an OCI index, and a registry
//! reference (`registry/name[:tag][@digest]`) resolved as Docker resolves it.

use std::fmt;

/// Checks `name` and `tag` against Docker's reference grammar, returning a
/// message that says what is allowed when they break it.
pub fn check(name: &str, tag: &str) -> Result<(), String> {
    check_name(name)?;
    check_tag(tag)
}

/// Checks an image name (`[registry/]path`) against Docker's rules.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the image name is empty".into());
    }
    let (domain, path) = split_domain(name);
    if let Some(d) = domain
        && !domain_ok(d)
    {
        return Err(format!("registry {d:?} in name {name:?} is not a host name with an optional :port"));
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
    Ok(())
}

/// Checks a tag against Docker's rules.
pub fn check_tag(tag: &str) -> Result<(), String> {
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

/// An image in a registry, as `docker push` and skopeo's `docker://` name
/// it: `[registry/]name[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io` for Docker Hub, else the `host[:port]` as written.
    pub registry: String,
    /// The repository inside the registry: `me/hello`, `library/hello`.
    pub repository: String,
    /// The tag, when one is given.
    pub tag: Option<String>,
    /// The digest (`sha256:<hex>`), when one is given.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses a reference with Docker's rules, accepting a `docker://`
    /// prefix. Without a registry it is Docker Hub's (`docker.io`), where a
    /// one-component name is an official image (`library/NAME`).
    pub fn parse(text: &str) -> Result<Reference, String> {
        let bare = text.strip_prefix("docker://").unwrap_or(text);
        if bare.is_empty() {
            return Err("the reference is empty".into());
        }
        if bare.len() == 64 && bare.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!("{bare:?} is a 64-digit hex string, which Docker reads as an image ID, not a name"));
        }
        let (rest, digest) = match bare.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (bare, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
            _ => (rest, None),
        };
        let (domain, path) = split_domain(name);
        if path.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(format!("repository name {path:?} must be lowercase"));
        }
        check(name, tag.unwrap_or("latest"))?;
        if let Some(digest) = digest {
            check_digest(digest)?;
        }
        let registry = match domain {
            None | Some("index.docker.io") => "docker.io",
            Some(domain) => domain,
        };
        let repository =
            if registry == "docker.io" && !path.contains('/') { format!("library/{path}") } else { path.to_string() };
        Ok(Reference {
            registry: registry.to_string(),
            repository,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// The host the registry API answers at: Docker Hub's is
    /// `registry-1.docker.io`, any other registry's is its name.
    pub fn api_host(&self) -> &str {
        if self.registry == "docker.io" { "registry-1.docker.io" } else { &self.registry }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// A digest as a reference carries it; bimanix pushes sha256 manifests,
/// so only `sha256:<64 lowercase hex digits>` can ever match.
fn check_digest(digest: &str) -> Result<(), String> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if hex.len() == 64 && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(())
        }
        Some(("sha256", _)) => Err(format!("digest {digest:?} must have 64 lowercase hex digits after sha256:")),
        _ => Err(format!("digest {digest:?} is not of the form sha256:<64 hex digits> (the only kind bimanix pushes)")),
    }
}

/// Splits off the registry host: the first component counts as one when
/// it has a dot, a port or an uppercase letter, or is `localhost`, as
/// Docker decides.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.bytes().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// A host name, IPv4 or bracketed IPv6 address, with an optional `:port`.
fn domain_ok(domain: &str) -> bool {
    let (host_ok, port) = match domain.strip_prefix('[') {
        Some(bracketed) => {
            let Some((addr, rest)) = bracketed.split_once(']') else {
                return false;
            };
            let port = match rest {
                "" => None,
                _ => match rest.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return false,
                },
            };
            (!addr.is_empty() && addr.bytes().all(|c| c.is_ascii_hexdigit() || c == b':'), port)
        }
        None => {
            let (host, port) = domain.rsplit_once(':').map_or((domain, None), |(h, p)| (h, Some(p)));
            let label_ok = |l: &str| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            };
            (host.split('.').all(label_ok), port)
        }
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
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
    fn parses_references_as_docker_resolves_them() {
        let r = |t: &str| Reference::parse(t).unwrap();
        let hub = r("hello");
        assert_eq!((hub.registry.as_str(), hub.repository.as_str()), ("docker.io", "library/hello"));
        assert_eq!((&hub.tag, &hub.digest), (&None, &None));
        assert_eq!(hub.api_host(), "registry-1.docker.io");
        assert_eq!(r("me/hello:1.0").repository, "me/hello");
        assert_eq!(r("docker://docker.io/hello:1").repository, "library/hello");
        assert_eq!(r("index.docker.io/me/x").registry, "docker.io");
        let local = r("localhost:5000/a/b:v1");
        assert_eq!((local.registry.as_str(), local.repository.as_str()), ("localhost:5000", "a/b"));
        assert_eq!(local.tag.as_deref(), Some("v1"));
        assert_eq!(local.api_host(), "localhost:5000");
        let pinned = r(&format!("ghcr.io/me/hello:1.0@sha256:{}", "a".repeat(64)));
        assert_eq!(pinned.digest, Some(format!("sha256:{}", "a".repeat(64))));
        assert_eq!(pinned.to_string(), format!("ghcr.io/me/hello:1.0@sha256:{}", "a".repeat(64)));
        assert_eq!(r("127.0.0.1:5000/x").to_string(), "127.0.0.1:5000/x");
        assert_eq!(r("[::1]:5000/x:t").registry, "[::1]:5000");
        assert_eq!(r("Registry/x").registry, "Registry");
    }

    #[test]
    fn refuses_references_docker_refuses() {
        for bad in [
            "",
            "docker://",
            "Me/Hello",
            "hello:",
            "hello:.x",
            "a//b",
            "host:port/x",
            "hello@sha256:abc",
            "hello@md5:0123",
            "[::1/x",
            &"a".repeat(64),
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        assert!(Reference::parse("me/Hello").unwrap_err().contains("must be lowercase"));
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
