//! urunc's rules for the `com.urunc.unikernel.*` keys.
//!
//! `check` and `build` run [`check`] on the user's keys before writing an
//! image; `inspect` runs it on the keys found in any image. Maps of keys use
//! the short key (`binary`) for urunc's keys and keep any other key as
//! written.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::model::urunc::{KEYS, PREFIX, runtime_only};
use crate::rules::suggest::did_you_mean;
use crate::rules::versions;

/// The longest path urunc accepts, in bytes.
const MAX_PATH: usize = 4096;

/// What urunc allows in a path, for error messages.
const PATH_RULE: &str = "urunc allows only letters, digits and `._/-` in paths";

/// Every unikernel type some urunc version runs (`hedge` is left out: urunc
/// only ever had a stub for it, and [`check`] says so when it is asked for).
pub fn unikernel_types() -> Vec<&'static str> {
    versions::GUESTS.iter().map(|g| g.name).collect()
}

/// Every monitor some urunc version drives.
pub fn hypervisors() -> Vec<&'static str> {
    versions::MONITORS.iter().map(|m| m.name).collect()
}

/// Checks a `binary`, `initrd` or `block` value against urunc's path rules:
/// an absolute, clean path (no `//`, `.` or `..` parts, no trailing `/`) of
/// letters, digits and `._/-`, at most 4096 bytes, naming something below `/`.
pub fn check_path(value: &str) -> Result<(), String> {
    check_path_rules(value, false)
}

/// Checks a `blkMntPoint` value: the rules of [`check_path`], except that `/`
/// itself is allowed.
pub fn check_mount_point(value: &str) -> Result<(), String> {
    check_path_rules(value, true)
}

/// The rules shared by [`check_path`] and [`check_mount_point`].
fn check_path_rules(value: &str, root_allowed: bool) -> Result<(), String> {
    let shown = value.escape_debug();
    if value.is_empty() {
        return Err("is empty; bimanix needs an absolute path".to_string());
    }
    if value.len() > MAX_PATH {
        return Err(format!("is {} bytes long; urunc allows at most {MAX_PATH}", value.len()));
    }
    if let Some(c) = value.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))) {
        // Spaces are the likely mistake, and the reason for the rule.
        let why = if c == ' ' { " (its monitors split command lines on spaces)" } else { "" };
        return Err(format!("`{shown}` contains {c:?}; {PATH_RULE}{why}"));
    }
    if !value.starts_with('/') {
        return Err(format!(
            "`{shown}` is relative; bimanix needs an absolute path, such as `{}`",
            clean(&format!("/{value}"))
        ));
    }
    if value == "/" && !root_allowed {
        return Err("`/` is the root directory; urunc needs the path of a file".to_string());
    }
    let cleaned = clean(value);
    if cleaned != value {
        return Err(if cleaned == "/" && !root_allowed {
            format!("`{shown}` is not a clean path and names the root directory")
        } else {
            format!("`{shown}` is not a clean path; write `{cleaned}`")
        });
    }
    Ok(())
}

/// The clean form of an absolute path, as Go's `filepath.Clean` gives it.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// How bad a [`Problem`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// urunc would refuse the image or fail to run it.
    Error,
    /// urunc runs the image, but likely not as intended.
    Warning,
}

/// Something wrong with a set of urunc keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// How bad it is.
    pub severity: Severity,
    /// The short key at fault, if it is one of urunc's.
    pub key: Option<&'static str>,
    /// The args field at fault when it is not a urunc key (`cmd`, `env`,
    /// `workingDir`, ...).
    pub field: Option<&'static str>,
    /// What is wrong and what is allowed instead. It does not repeat `key`:
    /// callers show it after the key or the key's place in the args file
    /// (`annotations.binary: missing; urunc requires ...`).
    pub message: String,
}

impl Problem {
    /// A problem about a urunc key, or about the keys as a whole.
    pub fn new(severity: Severity, key: Option<&'static str>, message: String) -> Problem {
        Problem { severity, key, field: None, message }
    }
}

/// What an image's root filesystem holds at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Nothing.
    Missing,
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// Anything else: a symlink, device, fifo or socket.
    Other,
    /// Cannot be told: the base image that would hold it could not be read
    /// (an error of its own), so no path in it is reported.
    Unknown,
}

/// Checks a set of urunc keys against the rules every urunc version shares
/// (the ones that depend on the version are `rules::compat`'s).
///
/// `annotations` maps short keys to plain (not base64) values; empty values
/// count as unset, and keys that are not urunc's draw a warning.
/// `file_kind(path)` says what the image's root filesystem holds at an
/// absolute path. Problems come in a fixed order for the same input.
pub fn check(annotations: &BTreeMap<String, String>, file_kind: &dyn Fn(&str) -> FileKind) -> Vec<Problem> {
    let mut problems = Problems::default();
    let get = |key: &str| annotations.get(key).map(String::as_str).filter(|value| !value.is_empty());

    other_keys(annotations, &mut problems);
    let known_type = names(get("unikernelType"), &mut problems);
    let known_hypervisor = guest_monitor(get("hypervisor"), &mut problems);

    match get("binary") {
        None => problems.error(
            "binary",
            "missing; urunc requires the absolute path of the kernel in the image, \
             such as /unikernel/kernel"
                .to_string(),
        ),
        Some(path) => problems.value("binary", path, file_check(path, file_kind)),
    }
    for key in ["cmdline", "unikernelVersion"] {
        if let Some(value) = get(key) {
            problems.value(key, value, Ok(()));
        }
    }
    for key in ["initrd", "block"] {
        if let Some(path) = get(key) {
            problems.value(key, path, file_check(path, file_kind));
        }
    }
    if let Some(path) = get("blkMntPoint") {
        problems.value("blkMntPoint", path, check_mount_point(path));
    }
    for key in ["useDMBlock", "mountRootfs"] {
        if let Some(value) = get(key) {
            let result = match value {
                "true" | "false" => Ok(()),
                _ => Err(format!("`{}` is not a boolean; urunc takes exactly `true` or `false`", value.escape_debug())),
            };
            problems.value(key, value, result);
        }
    }
    for key in ["solo5NetDev", "solo5BlkDev"] {
        if let Some(value) = get(key) {
            problems.value(key, value, check_solo5_name(value));
        }
    }
    storage(&get, known_type, known_hypervisor, &mut problems);
    problems.0
}

/// Warnings for keys urunc does not know, and errors for the runtime-only
/// keys an image must not carry.
fn other_keys(annotations: &BTreeMap<String, String>, problems: &mut Problems) {
    for key in annotations.keys().filter(|key| !KEYS.contains(&key.as_str())) {
        let name = key.strip_prefix(PREFIX).unwrap_or(key);
        if let Some(why) = runtime_only(name) {
            problems.0.push(Problem::new(Severity::Error, None, format!("`{}` {why}", key.escape_debug())));
            continue;
        }
        let hint = match did_you_mean(name, KEYS) {
            Some(known) => format!("; did you mean `{known}`?"),
            None => String::new(),
        };
        problems.warning(None, format!("unknown key `{}`: urunc ignores it{hint}", key.escape_debug()));
    }
}

/// Checks `unikernelType`, returning it when some urunc version knows it.
fn names<'a>(unikernel_type: Option<&'a str>, problems: &mut Problems) -> Option<&'a str> {
    let types = unikernel_types();
    match unikernel_type {
        None => problems.error("unikernelType", format!("missing; urunc requires one of {}", types.join(", "))),
        Some("hedge") => problems.error(
            "unikernelType",
            format!("`hedge` was only ever a stub in urunc and does not run; use one of {}", types.join(", ")),
        ),
        Some(value) => problems.value("unikernelType", value, name_check(value, &types)),
    }
    unikernel_type.filter(|t| types.contains(t))
}

/// Checks `hypervisor`, returning it when some urunc version knows it.
fn guest_monitor<'a>(hypervisor: Option<&'a str>, problems: &mut Problems) -> Option<&'a str> {
    let known = hypervisors();
    match hypervisor {
        None => problems.error("hypervisor", format!("missing; urunc requires one of {}", known.join(", "))),
        Some(value) => problems.value("hypervisor", value, name_check(value, &known)),
    }
    hypervisor.filter(|h| known.contains(h))
}

/// The storage rules every version shares: what a guest or monitor cannot
/// use is ignored, and an initrd wins over a block image.
fn storage<'a>(
    get: &dyn Fn(&str) -> Option<&'a str>,
    known_type: Option<&str>,
    known_hypervisor: Option<&str>,
    problems: &mut Problems,
) {
    let initrd = get("initrd").is_some();
    let block = get("block").is_some();
    if known_type == Some("rumprun") && get("blkMntPoint") == Some("/") {
        problems.error(
            "blkMntPoint",
            "rumprun cannot mount a block image at `/`; use a directory such as /data".to_string(),
        );
    }
    let solo5 = known_hypervisor.filter(|h| versions::monitor(h).is_some_and(|m| !m.initrd));
    let guest = known_type.and_then(versions::guest);
    if let (true, Some(h)) = (initrd, solo5) {
        problems.warning(Some("initrd"), format!("{h} has no initrd; urunc ignores `initrd`"));
    } else if let (true, Some(g)) = (initrd, guest.filter(|g| !g.initrd)) {
        problems
            .warning(Some("initrd"), format!("{} does not boot from an initrd; `initrd` is of no use to it", g.name));
    }
    if let (true, Some(g)) = (block, guest.filter(|g| !g.block)) {
        problems.warning(Some("block"), format!("{} does not use a block image; urunc ignores `block`", g.name));
    } else if initrd && block && solo5.is_none() && guest.is_none_or(|g| g.initrd) {
        problems.warning(
            Some("block"),
            "`initrd` is set too and wins: the guest's root is the initrd, not the block image".to_string(),
        );
    }
}

/// Checks a Solo5 device name (`solo5NetDev`, `solo5BlkDev`) as urunc 0.8
/// does: `^[A-Za-z0-9]{1,67}$`.
pub fn check_solo5_name(value: &str) -> Result<(), String> {
    if value.len() <= 67 && value.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a Solo5 device name; urunc takes 1 to 67 letters and digits (`^[A-Za-z0-9]{{1,67}}$`)",
            value.escape_debug()
        ))
    }
}

/// The problems found so far, in the order found.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    /// Records an error about `key`.
    fn error(&mut self, key: &'static str, message: String) {
        self.0.push(Problem::new(Severity::Error, Some(key), message));
    }

    /// Records a warning, about `key` if given.
    fn warning(&mut self, key: Option<&'static str>, message: String) {
        self.0.push(Problem::new(Severity::Warning, key, message));
    }

    /// Records the outcome of checking `key`'s `value`: the error if any,
    /// noting when the value looks base64-encoded, or else a warning when it
    /// does.
    fn value(&mut self, key: &'static str, value: &str, result: Result<(), String>) {
        let decoded = looks_base64(value);
        match (result, decoded) {
            (Err(e), None) => self.error(key, e),
            (Err(e), Some(plain)) => self.error(key, format!("{e} ({})", base64_note(&plain))),
            (Ok(()), Some(plain)) => self.warning(Some(key), base64_note(&plain)),
            (Ok(()), None) => {}
        }
    }
}

/// Checks that `value` is one of `known`, suggesting the nearest on a typo.
fn name_check(value: &str, known: &[&str]) -> Result<(), String> {
    if known.contains(&value) {
        return Ok(());
    }
    let hint = match did_you_mean(value, known) {
        Some(near) => format!("; did you mean `{near}`?"),
        None => String::new(),
    };
    Err(format!("unknown `{}`; urunc knows {}{hint}", value.escape_debug(), known.join(", ")))
}

/// Checks that `path` follows urunc's path rules and is a regular file in the
/// image.
fn file_check(path: &str, file_kind: &dyn Fn(&str) -> FileKind) -> Result<(), String> {
    check_path(path)?;
    match file_kind(path) {
        FileKind::File | FileKind::Unknown => Ok(()),
        FileKind::Missing => Err(format!("`{path}` is not in the image")),
        FileKind::Dir => Err(format!("`{path}` is a directory; urunc needs a regular file")),
        FileKind::Other => Err(format!(
            "`{path}` is not a regular file (a symlink, device or the like); \
             urunc needs a regular file"
        )),
    }
}

/// The text `value` decodes to, when it looks like base64 of printable text:
/// the mistake of base64-encoding a value where plain text belongs.
fn looks_base64(value: &str) -> Option<String> {
    // Canonical padded base64 only, as an encoder writes it: four or more
    // characters of the alphabet, a multiple of four long.
    if value.len() < 4 || !value.len().is_multiple_of(4) {
        return None;
    }
    let decoded = STANDARD.decode(value).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let printable = !text.is_empty() && !text.chars().any(char::is_control);
    printable.then_some(text)
}

/// The note for a value that looks base64-encoded.
fn base64_note(plain: &str) -> String {
    format!(
        "looks base64-encoded, for `{}`: labels and annotations take plain text, \
         only urunc.json holds base64",
        plain.escape_debug()
    )
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A map of short keys to plain values.
    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The root filesystem the checks below look into.
    fn image(path: &str) -> FileKind {
        match path {
            "/unikernel/kernel" | "/unikernel/initrd" | "/disk.img" => FileKind::File,
            "/unikernel" => FileKind::Dir,
            "/link" => FileKind::Other,
            _ => FileKind::Missing,
        }
    }

    /// Checks `pairs` against [`image`].
    fn checked(pairs: &[(&str, &str)]) -> Vec<Problem> {
        check(&ann(pairs), &image)
    }

    /// A valid unikraft-on-qemu set plus `extra` (which may override).
    fn unikraft(extra: &[(&str, &str)]) -> Vec<Problem> {
        let mut all = vec![("unikernelType", "unikraft"), ("hypervisor", "qemu"), ("binary", "/unikernel/kernel")];
        all.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        all.extend_from_slice(extra);
        checked(&all)
    }

    /// The only problem in `problems`, which must have this severity and key
    /// and mention every one of `words`.
    fn only(problems: &[Problem], severity: Severity, key: Option<&str>, words: &[&str]) {
        assert_eq!(problems.len(), 1, "{problems:#?}");
        let p = &problems[0];
        assert_eq!(p.severity, severity, "{p:#?}");
        assert_eq!(p.key, key, "{p:#?}");
        for word in words {
            assert!(p.message.contains(word), "{:?} lacks {word:?}", p.message);
        }
    }

    #[test]
    fn names_come_from_every_version() {
        assert_eq!(unikernel_types(), ["unikraft", "rumprun", "mirage", "mewz", "linux", "hermit", "freebsd"]);
        assert_eq!(hypervisors(), ["qemu", "firecracker", "hvt", "spt", "cloud-hypervisor", "hyperlight-unikraft"]);
    }

    #[test]
    fn paths_accepted() {
        for path in ["/unikernel/kernel", "/a", "/a-b_c.d/E9", "/.hidden", "/a/..b", "/-x"] {
            assert_eq!(check_path(path), Ok(()), "{path}");
            assert_eq!(check_mount_point(path), Ok(()), "{path}");
        }
        let longest = format!("/{}", "a".repeat(4095));
        assert_eq!(check_path(&longest), Ok(()));
    }

    /// The error for `path`, which must mention every one of `words`.
    fn path_error(path: &str, words: &[&str]) {
        match check_path(path) {
            Ok(()) => panic!("{path:?} accepted"),
            Err(e) => {
                for word in words {
                    assert!(e.contains(word), "{path:?}: {e:?} lacks {word:?}");
                }
            }
        }
    }

    #[test]
    fn paths_refused() {
        path_error("", &["empty", "absolute"]);
        path_error("unikernel/kernel", &["relative", "`/unikernel/kernel`"]);
        path_error("./kernel", &["relative", "`/kernel`"]);
        path_error("-kernel", &["relative"]);
        path_error("/", &["root directory", "file"]);
        path_error("/my kernel", &["' '", "letters, digits and `._/-`", "spaces"]);
        path_error("/a\tb", &["'\\t'", "`/a\\tb`", "letters, digits"]);
        path_error("/kernël", &["'ë'", "letters, digits"]);
        path_error("/a=b", &["'='"]);
        path_error("/a//b", &["not a clean path", "`/a/b`"]);
        path_error("/a/", &["not a clean path", "`/a`"]);
        path_error("/a/./b", &["not a clean path", "`/a/b`"]);
        path_error("/a/../b", &["not a clean path", "`/b`"]);
        path_error("/..", &["root directory"]);
        path_error("/./", &["root directory"]);
        let too_long = format!("/{}", "a".repeat(4096));
        path_error(&too_long, &["4097 bytes", "at most 4096"]);
    }

    #[test]
    fn mount_points() {
        assert_eq!(check_mount_point("/"), Ok(()));
        assert_eq!(check_mount_point("/data"), Ok(()));
        let e = check_mount_point("/data/").unwrap_err();
        assert!(e.contains("`/data`"), "{e}");
        let e = check_mount_point("//").unwrap_err();
        assert!(e.contains("write `/`"), "{e}");
        assert!(check_mount_point("data").is_err());
        assert!(check_mount_point("/my data").is_err());
        assert!(check_mount_point("").is_err());
    }

    #[test]
    fn pairs_are_left_to_the_versions() {
        // Any pair of known names passes here; rules::compat judges pairs
        // per version.
        for t in unikernel_types() {
            for h in hypervisors() {
                let pairs = [("unikernelType", t), ("hypervisor", h), ("binary", "/unikernel/kernel")];
                assert!(checked(&pairs).iter().all(|p| p.severity == Severity::Warning), "{t} on {h}");
            }
        }
    }

    #[test]
    fn a_full_valid_set_passes() {
        let problems = checked(&[
            ("unikernelType", "linux"),
            ("hypervisor", "firecracker"),
            ("binary", "/unikernel/kernel"),
            ("cmdline", "/bin/app --port 80"),
            ("unikernelVersion", "6.6.1"),
            ("block", "/disk.img"),
            ("blkMntPoint", "/"),
            ("useDMBlock", "false"),
            ("mountRootfs", "true"),
        ]);
        assert_eq!(problems, []);
    }

    #[test]
    fn required_keys() {
        let problems = checked(&[]);
        let keys: Vec<_> = problems.iter().map(|p| p.key).collect();
        assert_eq!(keys, [Some("unikernelType"), Some("hypervisor"), Some("binary")]);
        assert!(problems.iter().all(|p| p.severity == Severity::Error));
        assert!(problems[0].message.contains("missing; urunc requires"));
        assert!(problems[0].message.contains("unikraft, rumprun"));
        assert!(problems[1].message.contains("qemu, firecracker"));
        assert!(problems[2].message.contains("absolute path"));

        // An empty value is no value.
        only(&unikraft(&[("binary", "")]), Severity::Error, Some("binary"), &["missing"]);
    }

    #[test]
    fn unknown_types() {
        only(
            &unikraft(&[("unikernelType", "unikraf")]),
            Severity::Error,
            Some("unikernelType"),
            &["unknown `unikraf`", "unikraft, rumprun, mirage", "did you mean `unikraft`?"],
        );
        let problems = unikraft(&[("unikernelType", "osv")]);
        only(&problems, Severity::Error, Some("unikernelType"), &["unknown `osv`"]);
        assert!(!problems[0].message.contains("did you mean"));
        // urunc compares exactly.
        only(
            &unikraft(&[("unikernelType", "Unikraft")]),
            Severity::Error,
            Some("unikernelType"),
            &["did you mean `unikraft`?"],
        );
        only(&unikraft(&[("unikernelType", "hedge")]), Severity::Error, Some("unikernelType"), &["stub", "unikraft"]);
    }

    #[test]
    fn unknown_hypervisors() {
        only(
            &unikraft(&[("hypervisor", "qemo")]),
            Severity::Error,
            Some("hypervisor"),
            &["unknown `qemo`", "cloud-hypervisor", "did you mean `qemu`?"],
        );
        let problems = unikraft(&[("hypervisor", "kvm")]);
        only(&problems, Severity::Error, Some("hypervisor"), &["unknown `kvm`"]);
        assert!(!problems[0].message.contains("did you mean"));
    }

    #[test]
    fn files_in_the_image() {
        only(
            &unikraft(&[("binary", "/unikernel/app")]),
            Severity::Error,
            Some("binary"),
            &["`/unikernel/app` is not in the image"],
        );
        only(&unikraft(&[("binary", "/unikernel")]), Severity::Error, Some("binary"), &["directory", "regular file"]);
        only(&unikraft(&[("binary", "/link")]), Severity::Error, Some("binary"), &["not a regular file"]);
        only(&unikraft(&[("initrd", "/initrd.cpio")]), Severity::Error, Some("initrd"), &["not in the image"]);
        let linux = |block: &str| {
            checked(&[
                ("unikernelType", "linux"),
                ("hypervisor", "qemu"),
                ("binary", "/unikernel/kernel"),
                ("block", block),
                ("blkMntPoint", "/"),
            ])
        };
        assert_eq!(linux("/disk.img"), []);
        only(&linux("/unikernel"), Severity::Error, Some("block"), &["directory"]);
    }

    #[test]
    fn bad_paths_are_not_looked_up() {
        let lookups = Cell::new(0);
        let counting = |path: &str| {
            lookups.set(lookups.get() + 1);
            image(path)
        };
        let problems = check(
            &ann(&[
                ("unikernelType", "unikraft"),
                ("hypervisor", "qemu"),
                ("binary", "unikernel/kernel"),
                ("initrd", "/unikernel//initrd"),
            ]),
            &counting,
        );
        assert_eq!(lookups.get(), 0);
        let keys: Vec<_> = problems.iter().map(|p| p.key).collect();
        assert_eq!(keys, [Some("binary"), Some("initrd")]);
        assert!(problems[0].message.contains("relative"), "{problems:#?}");
        assert!(problems[1].message.contains("`/unikernel/initrd`"), "{problems:#?}");
    }

    #[test]
    fn mount_point_values() {
        let rumprun = |mount: &str| {
            checked(&[
                ("unikernelType", "rumprun"),
                ("hypervisor", "hvt"),
                ("binary", "/unikernel/kernel"),
                ("block", "/disk.img"),
                ("blkMntPoint", mount),
            ])
        };
        assert_eq!(rumprun("/data"), []);
        only(&rumprun("/"), Severity::Error, Some("blkMntPoint"), &["rumprun", "`/`", "/data"]);
        only(&rumprun("data"), Severity::Error, Some("blkMntPoint"), &["relative"]);
    }

    #[test]
    fn booleans() {
        for key in ["useDMBlock", "mountRootfs"] {
            for good in ["true", "false"] {
                assert_eq!(unikraft(&[(key, good)]), [], "{key}={good}");
            }
            for bad in ["True", "yes", "1", "false "] {
                only(&unikraft(&[(key, bad)]), Severity::Error, Some(key), &["not a boolean", "`true` or `false`"]);
            }
        }
    }

    #[test]
    fn initrd_on_solo5_is_ignored() {
        for h in ["hvt", "spt"] {
            let problems = checked(&[
                ("unikernelType", "mirage"),
                ("hypervisor", h),
                ("binary", "/unikernel/kernel"),
                ("initrd", "/unikernel/initrd"),
            ]);
            only(&problems, Severity::Warning, Some("initrd"), &[h, "ignores `initrd`"]);
        }
        assert_eq!(unikraft(&[("initrd", "/unikernel/initrd")]), []);
    }

    #[test]
    fn initrd_wins_over_block() {
        let problems = checked(&[
            ("unikernelType", "linux"),
            ("hypervisor", "qemu"),
            ("binary", "/unikernel/kernel"),
            ("initrd", "/unikernel/initrd"),
            ("block", "/disk.img"),
            ("blkMntPoint", "/"),
        ]);
        only(&problems, Severity::Warning, Some("block"), &["`initrd`", "wins"]);
        // On hvt the initrd is ignored, so the block image is used.
        let problems = checked(&[
            ("unikernelType", "rumprun"),
            ("hypervisor", "hvt"),
            ("binary", "/unikernel/kernel"),
            ("initrd", "/unikernel/initrd"),
            ("block", "/disk.img"),
            ("blkMntPoint", "/data"),
        ]);
        only(&problems, Severity::Warning, Some("initrd"), &["hvt"]);
    }

    #[test]
    fn block_unused_by_unikraft_mewz_and_hermit() {
        for t in ["unikraft", "hermit", "mewz"] {
            let mut pairs = vec![
                ("unikernelType", t),
                ("hypervisor", "qemu"),
                ("binary", "/unikernel/kernel"),
                ("block", "/disk.img"),
                ("blkMntPoint", "/data"),
            ];
            if t != "mewz" {
                pairs.push(("initrd", "/unikernel/initrd"));
            }
            only(&checked(&pairs), Severity::Warning, Some("block"), &[t, "ignores `block`"]);
        }
    }

    #[test]
    fn initrd_unused_by_block_guests() {
        for t in ["mirage", "mewz", "freebsd"] {
            let problems = checked(&[
                ("unikernelType", t),
                ("hypervisor", "qemu"),
                ("binary", "/unikernel/kernel"),
                ("initrd", "/unikernel/initrd"),
            ]);
            only(&problems, Severity::Warning, Some("initrd"), &[t, "of no use"]);
        }
    }

    #[test]
    fn solo5_device_names() {
        assert_eq!(unikraft(&[("solo5NetDev", "service")]), []);
        assert_eq!(unikraft(&[("solo5BlkDev", &"a".repeat(67))]), []);
        for bad in ["data-0", "a b", &"a".repeat(68)] {
            only(&unikraft(&[("solo5BlkDev", bad)]), Severity::Error, Some("solo5BlkDev"), &["`^[A-Za-z0-9]{1,67}$`"]);
        }
    }

    #[test]
    fn runtime_only_keys_are_refused() {
        for key in ["vAccel", "com.urunc.unikernel.RPCAddress"] {
            let problems = unikraft(&[(key, "vsock")]);
            only(&problems, Severity::Error, None, &[key, "runtime-only", "vAccel"]);
        }
    }

    #[test]
    fn base64_where_plain_text_belongs() {
        only(
            &unikraft(&[("hypervisor", "cWVtdQ==")]),
            Severity::Error,
            Some("hypervisor"),
            &["unknown `cWVtdQ==`", "base64", "`qemu`", "plain text"],
        );
        only(
            &unikraft(&[("unikernelType", "dW5pa3JhZnQ=")]),
            Severity::Error,
            Some("unikernelType"),
            &["base64", "`unikraft`"],
        );
        only(
            &unikraft(&[("binary", "L3VuaWtlcm5lbC9rZXJuZWw=")]),
            Severity::Error,
            Some("binary"),
            &["'='", "base64", "`/unikernel/kernel`"],
        );
        only(
            &unikraft(&[("mountRootfs", "dHJ1ZQ==")]),
            Severity::Error,
            Some("mountRootfs"),
            &["not a boolean", "base64", "`true`"],
        );
        // Free text cannot be wrong, so a look-alike is only a warning.
        only(
            &unikraft(&[("cmdline", "aGVsbG8gd29ybGQ=")]),
            Severity::Warning,
            Some("cmdline"),
            &["base64", "`hello world`"],
        );
        // Text that is valid base64 of binary bytes is left alone.
        assert_eq!(unikraft(&[("cmdline", "test")]), []);
        assert_eq!(unikraft(&[("cmdline", "AAAA")]), []);
        assert_eq!(unikraft(&[("cmdline", "hello world")]), []);
        assert_eq!(unikraft(&[("unikernelVersion", "0.16.1")]), []);
    }

    #[test]
    fn unknown_keys() {
        let problems = unikraft(&[("hypervsor", "qemu")]);
        only(&problems, Severity::Warning, None, &["unknown key `hypervsor`", "did you mean `hypervisor`?"]);
        let problems = unikraft(&[("org.example.owner", "me")]);
        only(&problems, Severity::Warning, None, &["`org.example.owner`", "ignores"]);
        assert!(!problems[0].message.contains("did you mean"));
        let problems = unikraft(&[("com.urunc.unikernel.initrdd", "/x")]);
        only(&problems, Severity::Warning, None, &["did you mean `initrd`?"]);
    }
}
