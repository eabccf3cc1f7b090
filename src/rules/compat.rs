//! How each urunc version would take an image, from the facts in
//! `rules::versions`: whether it accepts the image and why not, which root
//! filesystem it gives the guest, which arguments, and what it ignores or
//! misreads. [`evaluate`] answers for one version; [`problems`] merges the
//! answers of the targeted versions into problems, one line per problem with
//! the versions it applies to (`urunc 0.6-0.7: ...`); [`differs`] marks the
//! versions whose guest would get other arguments.
//!
//! The rules that do not depend on the version (path syntax, files, base64
//! look-alikes, unknown keys) are `rules::urunc::check`.

use std::collections::BTreeMap;

use crate::rules::urunc::{Problem, Severity};
use crate::rules::versions::{self, ArgSource, LinuxProcess, RootfsOrder, SOLO5_DEFAULTS, Targets, Version};

/// Which urunc versions an image must work on, and how strictly.
#[derive(Clone, Debug)]
pub struct Options {
    /// The targeted versions.
    pub targets: Targets,
    /// Refuse unikernel types, monitors and pairs a targeted version does not
    /// run. Off (`--no-pair-check`), those become warnings: for a urunc
    /// build newer than bimanix's model.
    pub pair_check: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { targets: Targets::default(), pair_check: true }
    }
}

/// What a version sees of an image: the urunc keys it reads (short keys,
/// plain values) and the config fields that become the guest's process.
#[derive(Clone, Copy, Debug)]
pub struct Guest<'a> {
    /// The urunc keys the version reads.
    pub keys: &'a BTreeMap<String, String>,
    /// The image's Entrypoint.
    pub entrypoint: &'a [String],
    /// The image's Cmd.
    pub cmd: &'a [String],
    /// The image's Env.
    pub env: &'a [String],
    /// The image's WorkingDir.
    pub working_dir: Option<&'a str>,
    /// The image's User.
    pub user: Option<&'a str>,
}

impl Guest<'_> {
    /// A key's value, when it is set (non-empty).
    fn get(&self, key: &str) -> Option<&str> {
        self.keys.get(key).map(String::as_str).filter(|value| !value.is_empty())
    }

    /// Entrypoint + Cmd, what a runtime puts in the spec's `Process.Args`.
    fn args(&self) -> Vec<String> {
        self.entrypoint.iter().chain(self.cmd).cloned().collect()
    }
}

/// The guest's root filesystem as a version would pick it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rootfs {
    /// `initrd`, `block`, `mountRootfs`, `useDMBlock` or `none`.
    pub kind: &'static str,
    /// What exactly, for people.
    pub detail: String,
}

impl Rootfs {
    fn new(kind: &'static str, detail: impl Into<String>) -> Rootfs {
        Rootfs { kind, detail: detail.into() }
    }
}

/// The guest's arguments as a version would give them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arguments {
    /// `Entrypoint+Cmd`, `cmdline`, `cmdline split at whitespace` or `none`.
    pub from: &'static str,
    /// The words the guest gets (for a `cmdline` string: split as a shell
    /// does, which is how a guest that parses quotes sees it).
    pub words: Vec<String>,
    /// The `cmdline` string, when that is what the guest gets as it is.
    pub cmdline: Option<String>,
}

impl Arguments {
    fn none(from: &'static str) -> Arguments {
        Arguments { from, words: Vec::new(), cmdline: None }
    }

    /// Whether two versions give the guest the same arguments. A `cmdline`
    /// string counts as the same as words it splits into, or whose words it
    /// joins with spaces (what bimanix writes for urunc 0.5).
    pub fn same(&self, other: &Arguments) -> bool {
        let joins = |a: &Arguments, b: &Arguments| a.cmdline.as_ref().is_some_and(|c| *c == b.words.join(" "));
        self.words == other.words || joins(self, other) || joins(other, self)
    }

    /// The arguments for people: the `cmdline` string, or the words as JSON.
    pub fn shown(&self) -> String {
        match &self.cmdline {
            Some(line) => format!("`{}`", printable(line)),
            None => serde_json::to_string(&self.words).unwrap_or_default(),
        }
    }
}

/// How one version would take an image.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// The version.
    pub version: Version,
    /// Why the version would not run the image; empty when it would.
    pub rejected: Vec<String>,
    /// The guest's root filesystem.
    pub rootfs: Rootfs,
    /// The guest's arguments.
    pub arguments: Arguments,
    /// Guests, monitors or pairs the version does not run (errors, or
    /// warnings without the pair check).
    unsupported: Vec<Problem>,
    /// What else the version rejects, misreads or ignores. Messages do not
    /// name the version: [`problems`] says which versions they apply to.
    findings: Vec<Problem>,
    /// The warning that the version ignores one source of arguments that
    /// disagrees with the other; left out when [`problems`] reports the
    /// disagreement between versions instead.
    ignored_arguments: Option<Problem>,
}

impl Verdict {
    /// Whether the version would run the image.
    pub fn accepted(&self) -> bool {
        self.rejected.is_empty()
    }

    fn reject(&mut self, reason: String) {
        self.rejected.push(reason);
    }

    fn note(&mut self, severity: Severity, key: Option<&'static str>, field: Option<&'static str>, message: String) {
        self.findings.push(Problem { severity, key, field, message });
    }
}

/// How `version` would take the image `guest` describes.
pub fn evaluate(version: Version, guest: &Guest) -> Verdict {
    let mut verdict = Verdict {
        version,
        rejected: Vec::new(),
        rootfs: rootfs(version, guest),
        arguments: arguments(version, guest),
        unsupported: Vec::new(),
        findings: Vec::new(),
        ignored_arguments: None,
    };
    acceptance(&mut verdict, guest);
    if !verdict.unsupported.is_empty() {
        // Without the guest or the monitor, nothing else it would do matters.
        return verdict;
    }
    ignored_keys(&mut verdict, guest);
    ignored_arguments(&mut verdict, guest);
    storage(&mut verdict, guest);
    linux_process(&mut verdict, guest);
    verdict
}

/// Records why the version would not run the image at all.
fn acceptance(verdict: &mut Verdict, guest: &Guest) {
    let version = verdict.version;
    for key in ["unikernelType", "hypervisor", "binary"] {
        if guest.get(key).is_none() {
            verdict.reject(format!("`{key}` is missing"));
        }
    }
    let known_guest = guest.get("unikernelType").filter(|t| available(verdict, "unikernelType", t));
    let known_monitor = guest.get("hypervisor").filter(|h| available(verdict, "hypervisor", h));
    if let (Some(t), Some(h)) = (known_guest, known_monitor)
        && !version.runs(t, h)
    {
        let runs = version.monitors_for(t);
        let how = if version < Version::V0_8 { "has no support for" } else { "refuses" };
        let message = format!("{how} {t} on {h}; {t} runs on {}", runs.join(", "));
        verdict.reject(message.clone());
        verdict.unsupported.push(Problem::new(Severity::Error, Some("hypervisor"), message));
    }
    if guest.get("block").is_some() && guest.get("blkMntPoint").is_none() && version.facts().block_needs_mount_point {
        let message = "refuses `block` without `blkMntPoint` (\"annotation for block device was set without a \
                       mountpoint\"); set where the guest mounts it, `/` for its root"
            .to_string();
        verdict.reject(message.clone());
        verdict.note(Severity::Error, Some("block"), None, message);
    }
}

/// Whether `version` has the guest or monitor `name` (`key` says which),
/// recording a rejection when it does not.
fn available(verdict: &mut Verdict, key: &'static str, name: &str) -> bool {
    let (what, since) = match key {
        "unikernelType" => ("unikernel type", versions::guest(name).map(|g| g.since)),
        _ => ("hypervisor", versions::monitor(name).map(|m| m.since)),
    };
    match since {
        // Unknown to every version: rules::urunc::check reports it.
        None => {
            verdict.reject(format!("unknown {what} `{}`", printable(name)));
            false
        }
        Some(since) if since > verdict.version => {
            let message = format!("does not know {what} `{}` (urunc has it since {since})", printable(name));
            verdict.reject(message.clone());
            verdict.unsupported.push(Problem::new(Severity::Error, Some(key), message));
            false
        }
        Some(_) => true,
    }
}

/// `text` with control characters escaped, so that a value stays on one
/// line of a message.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}

/// Go's `strconv.ParseBool` true values, which is how urunc reads booleans.
fn go_true(value: Option<&str>) -> bool {
    matches!(value, Some("1" | "t" | "T" | "TRUE" | "true" | "True"))
}

/// The root filesystem `version` would give the guest.
fn rootfs(version: Version, guest: &Guest) -> Rootfs {
    let Some(g) = guest.get("unikernelType").and_then(versions::guest).filter(|g| g.since <= version) else {
        return Rootfs::new("none", "");
    };
    let takes_initrd = g.initrd && guest.get("hypervisor").and_then(versions::monitor).is_some_and(|m| m.initrd);
    let initrd = guest.get("initrd").filter(|_| takes_initrd);
    let block = guest.get("block").filter(|_| g.block);
    let mount_point = guest.get("blkMntPoint");
    match version.facts().rootfs {
        RootfsOrder::Devmapper => match (block, initrd) {
            (Some(block), _) => {
                Rootfs::new("block", format!("{block} at {}", mount_point.unwrap_or("(no mount point)")))
            }
            // An empty or invalid useDMBlock counts as true.
            _ if g.block && guest.get("useDMBlock") != Some("false") => {
                Rootfs::new("useDMBlock", "the container rootfs as a block device, when the snapshotter is devmapper")
            }
            (None, Some(initrd)) => Rootfs::new("initrd", initrd),
            (None, None) => Rootfs::new("none", ""),
        },
        RootfsOrder::InitrdFirst => {
            if let Some(initrd) = initrd {
                Rootfs::new("initrd", initrd)
            } else if let (Some(block), Some("/")) = (block, mount_point) {
                Rootfs::new("block", format!("{block} at /"))
            } else if go_true(guest.get("mountRootfs")) && (g.block || g.shared_fs) {
                let how = match (g.block, g.shared_fs) {
                    (true, true) => "a block device on devmapper, else virtiofs or 9pfs",
                    (true, false) => "a block device, when the snapshotter is devmapper",
                    _ => "virtiofs or 9pfs",
                };
                Rootfs::new("mountRootfs", format!("the container rootfs as {how}"))
            } else if let Some(block) = block {
                Rootfs::new("none", format!("{block} mounted at {}", mount_point.unwrap_or("(no mount point)")))
            } else {
                Rootfs::new("none", "")
            }
        }
    }
}

/// The arguments `version` would give the guest.
fn arguments(version: Version, guest: &Guest) -> Arguments {
    let facts = version.facts();
    if guest.get("hypervisor") == Some("hyperlight-unikraft") && !facts.hyperlight_args {
        return Arguments::none("none (hyperlight-unikraft passes none)");
    }
    let args = guest.args();
    let cmdline = guest.get("cmdline").filter(|_| version.reads("cmdline"));
    let from_args = || Arguments { from: "Entrypoint+Cmd", words: args.clone(), cmdline: None };
    match (facts.args, cmdline) {
        (ArgSource::Cmdline, Some(line)) => Arguments {
            from: "cmdline",
            words: crate::rules::words::split(line)
                .unwrap_or_else(|_| line.split_whitespace().map(str::to_string).collect()),
            cmdline: Some(line.to_string()),
        },
        (ArgSource::Cmdline, None) => Arguments::none("none"),
        _ if !args.is_empty() => from_args(),
        (ArgSource::ArgsThenCmdline, Some(line)) => Arguments {
            from: "cmdline split at whitespace",
            words: line.split_whitespace().map(str::to_string).collect(),
            cmdline: None,
        },
        _ => Arguments::none("none"),
    }
}

/// Warnings for keys the version does not read, when that changes
/// something.
fn ignored_keys(verdict: &mut Verdict, guest: &Guest) {
    let version = verdict.version;
    if guest.get("useDMBlock").is_some() && !version.reads("useDMBlock") {
        let message = "ignores `useDMBlock`, which urunc 0.6 replaced with `mountRootfs`".to_string();
        verdict.note(Severity::Warning, Some("useDMBlock"), None, message);
    }
    if guest.get("mountRootfs").is_some() && !version.reads("mountRootfs") {
        let message = "ignores `mountRootfs`, which came in urunc 0.6 (0.5 reads `useDMBlock`)".to_string();
        verdict.note(Severity::Warning, Some("mountRootfs"), None, message);
    }
    // urunc names Solo5 devices only for mirage on hvt or spt, and attaches
    // a block device only when there is a block image.
    let mirage = guest.get("unikernelType") == Some("mirage") && matches!(guest.get("hypervisor"), Some("hvt" | "spt"));
    for (key, default) in SOLO5_DEFAULTS {
        let Some(value) = guest.get(key) else { continue };
        let used = mirage && (key == "solo5NetDev" || guest.get("block").is_some());
        if !version.reads(key) && value != default {
            let message = format!("ignores `{key}` (it came in urunc 0.8) and names the Solo5 device `{default}`");
            verdict.note(Severity::Warning, Some(key), None, message);
        } else if version.reads(key) && !used {
            let what = if key == "solo5BlkDev" { "mirage's block image on hvt or spt" } else { "mirage on hvt or spt" };
            let message = format!("uses `{key}` only for {what}; here it is ignored");
            verdict.note(Severity::Warning, Some(key), None, message);
        }
    }
}

/// The warning that one source of arguments is ignored while it disagrees
/// with the one the version reads.
fn ignored_arguments(verdict: &mut Verdict, guest: &Guest) {
    let version = verdict.version;
    let args = guest.args();
    let from_args = Arguments { from: "Entrypoint+Cmd", words: args.clone(), cmdline: None };
    let cmdline = guest.get("cmdline");
    let message = match (version.facts().args, cmdline) {
        (ArgSource::Cmdline, None) if !args.is_empty() => format!(
            "reads only `cmdline`, which is unset: the guest gets no arguments, not Entrypoint+Cmd {}",
            from_args.shown()
        ),
        (ArgSource::Cmdline, Some(_)) if !args.is_empty() && !verdict.arguments.same(&from_args) => {
            format!("reads only `cmdline`: the guest does not get Entrypoint+Cmd {}", from_args.shown())
        }
        (ArgSource::Cmdline, _) => return,
        (_, Some(line)) if args.is_empty() && !version.reads("cmdline") => {
            format!("ignores `cmdline` `{}`: the guest gets no arguments", printable(line))
        }
        (_, Some(line)) if !args.is_empty() => {
            let words = crate::rules::words::split(line).unwrap_or_default();
            let as_line = Arguments { from: "cmdline", words, cmdline: Some(line.to_string()) };
            if as_line.same(&from_args) {
                return;
            }
            format!(
                "ignores `cmdline` `{}`: the guest gets Entrypoint+Cmd {} instead",
                printable(line),
                from_args.shown()
            )
        }
        _ => return,
    };
    verdict.ignored_arguments = Some(Problem::new(Severity::Warning, Some("cmdline"), message));
}

/// Warnings about storage and arguments that this version's guest code
/// drops.
fn storage(verdict: &mut Verdict, guest: &Guest) {
    let version = verdict.version;
    let facts = version.facts();
    let has = |name: &str| versions::guest(name).is_some_and(|g| g.since <= version);
    let (t, h) = (guest.get("unikernelType"), guest.get("hypervisor"));
    if t == Some("mirage") && guest.get("block").is_some() && !matches!(h, Some("hvt" | "spt")) {
        let message = "attaches mirage's block image on hvt and spt only; on this monitor the guest gets none";
        verdict.note(Severity::Warning, Some("block"), None, message.to_string());
    }
    if t == Some("freebsd") && h == Some("qemu") && has("freebsd") && !facts.freebsd_qemu_block {
        let message = "attaches no block device to FreeBSD on qemu (that code is disabled in urunc), so the guest \
                       finds no root; firecracker works";
        verdict.note(Severity::Warning, Some("hypervisor"), None, message.to_string());
    }
    if t == Some("hermit") && has("hermit") && guest.get("initrd").is_none() {
        let message = "boots Hermit as its loader (`binary`) with the application as `initrd`; without `initrd` \
                       the loader has nothing to run";
        verdict.note(Severity::Warning, Some("initrd"), None, message.to_string());
    }
    let hyperlight = versions::monitor("hyperlight-unikraft").is_some_and(|m| m.since <= version);
    if h == Some("hyperlight-unikraft") && hyperlight && !facts.hyperlight_args && !guest.args().is_empty() {
        let message = "passes no arguments to hyperlight-unikraft guests: Entrypoint and Cmd are ignored";
        verdict.note(Severity::Warning, None, Some("cmd"), message.to_string());
    }
}

/// The Linux guest's process: an argument holding `'` breaks urunc's
/// quoting, and an init that is not urunit loses WorkingDir and User and
/// gets env on the kernel command line.
fn linux_process(verdict: &mut Verdict, guest: &Guest) {
    let version = verdict.version;
    if guest.get("unikernelType") != Some("linux") || versions::guest("linux").is_none_or(|g| g.since > version) {
        return;
    }
    let words = verdict.arguments.words.clone();
    let field = if guest.entrypoint.is_empty() { "cmd" } else { "entrypoint" };
    if let Some(word) = words.iter().find(|w| w.contains('\'')) {
        let message = format!(
            "the argument `{}` holds `'`, which urunc's single-quoting of Linux kernel arguments corrupts \
             (urunc issue 897); rephrase it without `'`",
            printable(word)
        );
        verdict.note(Severity::Error, None, Some(field), message);
    }
    let Some(init) = words.first() else { return };
    let urunit = version.facts().linux == LinuxProcess::UrunitConfig && init.contains("urunit");
    if urunit {
        return;
    }
    let whose = match version.facts().linux {
        LinuxProcess::KernelCommandLine => "a Linux guest".to_string(),
        LinuxProcess::UrunitConfig => format!("a Linux guest whose init (`{}`) is not urunit", printable(init)),
    };
    if let Some(dir) = guest.working_dir.filter(|d| !d.is_empty() && *d != "/") {
        let message = format!("drops WorkingDir `{}` for {whose}", printable(dir));
        verdict.note(Severity::Warning, None, Some("workingDir"), message);
    }
    if let Some(user) = guest.user.filter(|u| !matches!(*u, "" | "0" | "root" | "0:0" | "root:root")) {
        let message = format!("drops User `{}` for {whose}: the guest runs as root", printable(user));
        verdict.note(Severity::Warning, None, None, message);
    }
    for (kv, why) in guest.env.iter().filter_map(|kv| mangled_on_cmdline(kv).map(|why| (kv, why))) {
        let message = format!(
            "puts Env on the kernel command line for {whose}: `{}` holds {why}, which the kernel command line \
             mangles there",
            printable(kv)
        );
        verdict.note(Severity::Warning, None, Some("env"), message);
    }
    if is_plain_linux_init(init)
        && let Some(word) = words.iter().skip(1).find(|w| w.contains(char::is_whitespace))
    {
        let message = format!(
            "single-quotes the argument `{}` on the kernel command line for {whose}; the kernel does not group \
             single-quoted words and `{}` does not regroup them (only urunit does), so it gets it split",
            printable(word),
            printable(init)
        );
        verdict.note(Severity::Warning, None, Some(field), message);
    }
}

/// Whether a Linux guest's argv0 is a stock init, which takes the words the
/// kernel hands it as they are: `init`, `linuxrc`, `systemd`, `busybox` and
/// the shells (`sh`, `ash`, `bash`, `dash`) an init script runs under, by
/// the last name of the path. The kernel splits urunc's single-quoted
/// arguments at their spaces; a program of the user's own as argv0 may put
/// them back together (the README's example prints `two words` whole), so
/// bimanix warns only for inits it knows do not.
pub fn is_plain_linux_init(argv0: &str) -> bool {
    let name = argv0.rsplit('/').next().unwrap_or(argv0);
    matches!(name, "init" | "linuxrc" | "systemd" | "busybox" | "sh" | "ash" | "bash" | "dash")
}

/// What in an Env entry the kernel command line mangles: a space or other
/// blank splits it, a quote is taken as the kernel's own quoting, and `--`
/// ends the kernel's parameters. `None` for an entry that passes unharmed.
pub fn mangled_on_cmdline(kv: &str) -> Option<&'static str> {
    if kv.contains(char::is_whitespace) {
        Some("a space")
    } else if kv.contains('"') {
        Some("a double quote")
    } else if kv.contains('\'') {
        Some("a single quote")
    } else if kv.contains("--") {
        Some("`--`")
    } else {
        None
    }
}

/// The problems of the targeted versions' verdicts: each problem once, with
/// the versions it applies to; unsupported guests, monitors and pairs as
/// warnings when `pair_check` is off; and an error when the versions would
/// give the guest different arguments.
pub fn problems(verdicts: &[Verdict], pair_check: bool) -> Vec<Problem> {
    let mut grouped: Vec<(Problem, Vec<Version>)> = Vec::new();
    let mut add = |problem: Problem, version: Version| match grouped.iter_mut().find(|(p, _)| *p == problem) {
        Some((_, versions)) => versions.push(version),
        None => grouped.push((problem, vec![version])),
    };
    for verdict in verdicts {
        for problem in &verdict.unsupported {
            let mut problem = problem.clone();
            if pair_check {
                problem.message.push_str(" (--no-pair-check lets it through, for a newer urunc)");
            } else {
                problem.severity = Severity::Warning;
                problem.message.push_str(" (allowed by --no-pair-check)");
            }
            add(problem, verdict.version);
        }
        for problem in &verdict.findings {
            add(problem.clone(), verdict.version);
        }
    }
    let disagreement = disagreement(verdicts);
    if disagreement.is_none() {
        for verdict in verdicts {
            if let Some(problem) = &verdict.ignored_arguments {
                add(problem.clone(), verdict.version);
            }
        }
    }
    let mut out: Vec<Problem> = grouped
        .into_iter()
        .map(|(mut problem, versions)| {
            problem.message = format!("urunc {}: {}", versions::names(&versions), problem.message);
            problem
        })
        .collect();
    out.extend(disagreement);
    out
}

/// The error for accepting versions that would give the guest different
/// arguments.
fn disagreement(verdicts: &[Verdict]) -> Option<Problem> {
    let mut groups: Vec<(&Arguments, Vec<Version>)> = Vec::new();
    for verdict in verdicts.iter().filter(|v| v.accepted()) {
        match groups.iter_mut().find(|(args, _)| args.same(&verdict.arguments)) {
            Some((_, versions)) => versions.push(verdict.version),
            None => groups.push((&verdict.arguments, vec![verdict.version])),
        }
    }
    if groups.len() < 2 {
        return None;
    }
    let each: Vec<String> = groups
        .iter()
        .map(|(args, versions)| format!("urunc {} gives {} ({})", versions::names(versions), args.shown(), args.from))
        .collect();
    let message = format!(
        "the guest's arguments differ between the targeted versions: {}; make `cmdline` and entrypoint/cmd agree, \
         or target only versions that read the same one",
        each.join(", ")
    );
    Some(Problem::new(Severity::Error, Some("cmdline"), message))
}

/// For each verdict, whether its (accepting) version gives the guest other
/// arguments than the newest accepting version.
pub fn differs(verdicts: &[Verdict]) -> Vec<bool> {
    let reference = verdicts.iter().rev().find(|v| v.accepted()).map(|v| &v.arguments);
    verdicts.iter().map(|v| v.accepted() && reference.is_some_and(|r| !r.same(&v.arguments))).collect()
}

#[cfg(test)]
mod tests;
