//! The urunc versions bimanix knows (0.5, 0.6, 0.7, 0.8 and main), in one
//! place: the keys each reads, the guests and monitors it has and the pairs
//! it runs, the storage each guest takes, where the guest's arguments come
//! from, how spec annotations are encoded and how an image's Labels reach
//! urunc. Every fact names its source in urunc's repository (urunc-dev/urunc;
//! older history in nubificus/urunc): a file at a commit, a PR or issue, or
//! the CHANGELOG entry of a release.
//!
//! No tag of the stored history is provably a release tree, so a version
//! here means "the code of that release's era": the CHANGELOG, the PR dates
//! (v0.5.0 2025-04-10, v0.6.0 2025-07-04, v0.7.0 2025-12-23, v0.8.0
//! 2026-09-07; release PRs #148, #201, #360, #1030) and the features a
//! snapshot has place it. `main` is the newest stored snapshot. Where a fact
//! is not established for a version, the comment says which way bimanix
//! leans: toward the rule that keeps an image working on every version.
//!
//! The rules that use these facts are in `rules::compat`.

use std::fmt;
use std::str::FromStr;

/// A urunc version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// v0.5.0, 2025-04-10.
    V0_5,
    /// v0.6.0, 2025-07-04.
    V0_6,
    /// v0.7.0, 2025-12-23.
    V0_7,
    /// v0.8.0, 2026-09-07.
    V0_8,
    /// The main branch after v0.8.0.
    Main,
}

/// Every known version, oldest first.
pub const ALL: [Version; 5] = [Version::V0_5, Version::V0_6, Version::V0_7, Version::V0_8, Version::Main];

/// The newest release: the default target.
pub const NEWEST_RELEASE: Version = Version::V0_8;

impl Version {
    /// `0.5` ... `0.8`, `main`.
    pub fn name(self) -> &'static str {
        match self {
            Version::V0_5 => "0.5",
            Version::V0_6 => "0.6",
            Version::V0_7 => "0.7",
            Version::V0_8 => "0.8",
            Version::Main => "main",
        }
    }

    /// Reads `0.8`, `v0.8`, `0.8.0` (any patch level) or `main`.
    pub fn parse(text: &str) -> Result<Version, String> {
        let bare = text.trim().strip_prefix('v').unwrap_or(text.trim());
        let minor = match bare.split('.').collect::<Vec<_>>().as_slice() {
            ["main"] => return Ok(Version::Main),
            ["0", minor] | ["0", minor, _] => *minor,
            _ => "",
        };
        let patch_ok = bare.split('.').nth(2).is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        ALL.iter().copied().find(|v| v.name() == format!("0.{minor}") && patch_ok).ok_or_else(|| {
            format!(
                "unknown urunc version `{}`; bimanix knows {} (a comma list such as `0.6,0.8` or a range such as \
                 `0.6-main` asks for all of them)",
                text.escape_debug(),
                names(&ALL)
            )
        })
    }

    /// The facts of this version that are not tables of their own.
    pub fn facts(self) -> &'static Facts {
        &FACTS[self as usize]
    }

    /// Whether this version reads `key` (a short key) from an image.
    pub fn reads(self, key: &str) -> bool {
        KEYS.iter().any(|k| k.key == key && k.since <= self && k.until.is_none_or(|until| self <= until))
    }

    /// Whether this version runs `guest` on `monitor`.
    pub fn runs(self, guest: &str, monitor: &str) -> bool {
        PAIRS.iter().any(|&(g, m, since)| g == guest && m == monitor && since <= self)
    }

    /// The monitors this version runs `guest` on.
    pub fn monitors_for(self, guest: &str) -> Vec<&'static str> {
        PAIRS.iter().filter(|&&(g, _, since)| g == guest && since <= self).map(|&(_, m, _)| m).collect()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Versions as a person reads them: consecutive runs as ranges
/// (`0.6-main`), others separated by commas (`0.5, 0.7`).
pub fn names(versions: &[Version]) -> String {
    let mut runs: Vec<(Version, Version)> = Vec::new();
    for &v in versions {
        match runs.last_mut() {
            Some((_, last)) if ALL.get(*last as usize + 1) == Some(&v) => *last = v,
            _ => runs.push((v, v)),
        }
    }
    let shown: Vec<String> = runs
        .iter()
        .map(|&(first, last)| if first == last { first.to_string() } else { format!("{first}-{last}") })
        .collect();
    shown.join(", ")
}

/// The versions an image must work on: `urunc = "0.8";` in args.nix,
/// `--urunc` on the command line. Sorted, without repeats, never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Targets(Vec<Version>);

impl Targets {
    /// Reads `0.8`, a comma list (`0.5,0.8`), a range (`0.6-main`) or a mix.
    pub fn parse(text: &str) -> Result<Targets, String> {
        let mut versions = Vec::new();
        for part in text.split(',') {
            match part.split_once('-') {
                Some((first, last)) => {
                    let (first, last) = (Version::parse(first)?, Version::parse(last)?);
                    if first > last {
                        return Err(format!("the range `{}` runs backwards; write `{last}-{first}`", part.trim()));
                    }
                    versions.extend(ALL.iter().copied().filter(|v| (first..=last).contains(v)));
                }
                None if part.trim().is_empty() => {
                    return Err(format!("`{}` has an empty entry; write versions such as `0.6,0.8`", text.trim()));
                }
                None => versions.push(Version::parse(part)?),
            }
        }
        versions.sort();
        versions.dedup();
        Ok(Targets(versions))
    }

    /// The targeted versions, oldest first.
    pub fn versions(&self) -> &[Version] {
        &self.0
    }

    /// Whether `version` is targeted.
    pub fn contains(&self, version: Version) -> bool {
        self.0.contains(&version)
    }
}

impl Default for Targets {
    /// The newest release.
    fn default() -> Targets {
        Targets(vec![NEWEST_RELEASE])
    }
}

impl fmt::Display for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&names(&self.0))
    }
}

impl FromStr for Targets {
    type Err = String;

    fn from_str(text: &str) -> Result<Targets, String> {
        Targets::parse(text)
    }
}

// ---------------------------------------------------------------------------
// Keys

/// A key urunc reads from an image, and the versions that read it.
#[derive(Debug)]
pub struct Key {
    /// The short key.
    pub key: &'static str,
    /// The first version that reads it.
    pub since: Version,
    /// The last version that reads it.
    pub until: Option<Version>,
}

/// The keys urunc reads from an image (`/urunc.json`, and from 0.8 on the
/// Labels and manifest annotations the shim copies). Unknown keys are
/// ignored by every version (Go's `encoding/json`; annotations_test.go, id
/// 67438695196).
pub const KEYS: &[Key] = &[
    // config.go in every version (nubificus 06a105a3, id 25623736931,
    // 9cd1b305), annotations.go id 67340797462 (0.8) and 19712873 (main).
    Key { key: "unikernelType", since: Version::V0_5, until: None },
    Key { key: "hypervisor", since: Version::V0_5, until: None },
    Key { key: "binary", since: Version::V0_5, until: None },
    Key { key: "unikernelVersion", since: Version::V0_5, until: None },
    Key { key: "initrd", since: Version::V0_5, until: None },
    Key { key: "block", since: Version::V0_5, until: None },
    Key { key: "blkMntPoint", since: Version::V0_5, until: None },
    // The only source of arguments in 0.5; a fallback for an empty
    // Process.Args in 0.6 and 0.7 (unikontainers.go id 35967310976);
    // "cmdline annotations got deprecated" (CHANGELOG v0.8.0, breaking,
    // PR #1017): the 0.8 config (annotations.go id 67340797462) has no
    // cmdline field. Whether the v0.8.0 tag still falls back is not
    // established; bimanix takes the CHANGELOG's word.
    Key { key: "cmdline", since: Version::V0_5, until: Some(Version::V0_7) },
    // "Replace useDMBlock annotation with mountRootfs" (CHANGELOG v0.6.0,
    // breaking); config.go id 25623736931 has useDMBlock, 9cd1b305 mountRootfs.
    Key { key: "useDMBlock", since: Version::V0_5, until: Some(Version::V0_5) },
    Key { key: "mountRootfs", since: Version::V0_6, until: None },
    // "Use annotation values for the MirageOS network and block device
    // names" (CHANGELOG v0.8.0, PR #690); `^[A-Za-z0-9]{1,67}$`
    // (annotations.go id 67340797462).
    Key { key: "solo5NetDev", since: Version::V0_8, until: None },
    Key { key: "solo5BlkDev", since: Version::V0_8, until: None },
];

/// The Solo5 device names urunc uses when `solo5NetDev` / `solo5BlkDev` are
/// unset, and always before 0.8 (mirage.go b924d338; mirage_test.go id
/// 69623661471).
pub const SOLO5_DEFAULTS: [(&str, &str); 2] = [("solo5NetDev", "service"), ("solo5BlkDev", "storage")];

// ---------------------------------------------------------------------------
// Guests, monitors and pairs

/// A unikernel type (urunc calls them guests).
#[derive(Debug)]
pub struct Guest {
    /// The `unikernelType` value.
    pub name: &'static str,
    /// The first version that has it.
    pub since: Version,
    /// Whether it boots from an initrd (urunc passes one on to the monitor).
    pub initrd: bool,
    /// Whether it takes a block device (an explicit `block`, or the
    /// container rootfs as one).
    pub block: bool,
    /// Whether it can share the container rootfs over 9pfs or virtiofs
    /// (`mountRootfs` without a block-capable snapshotter).
    pub shared_fs: bool,
}

/// The unikernel types, with the storage each takes.
pub const GUESTS: &[Guest] = &[
    // unikernel.go factory id 35967729388 (0.5: rumprun, unikraft, mirage).
    // unikraft.go id 36063665286 (0.5, initrd only) and 46a96a5f (0.6+: 9pfs
    // on qemu, SupportsBlock false).
    Guest { name: "unikraft", since: Version::V0_5, initrd: true, block: false, shared_fs: true },
    // rumprun.go b924d338: block (ext2), mounted at /data when the container
    // rootfs is the block device (block.go 46a96a5f); no initrd.
    Guest { name: "rumprun", since: Version::V0_5, initrd: false, block: true, shared_fs: false },
    // mirage.go b924d338 / id 61939782425: SupportsBlock true, SupportsFS
    // false; the block device is attached on hvt/spt only.
    Guest { name: "mirage", since: Version::V0_5, initrd: false, block: true, shared_fs: false },
    // "Add support for mewz unikernels" (CHANGELOG v0.6.0; factory e45dfa8d);
    // the filesystem is linked into the kernel (docs/unikernel-support.md
    // 1a06a26c).
    Guest { name: "mewz", since: Version::V0_6, initrd: false, block: false, shared_fs: false },
    // "Add support for existing containers, by booting a minimal Linux VM"
    // (CHANGELOG v0.6.0; factory e45dfa8d); linux.go id 36599488217 (initrd
    // or block) and 1b26bc7c (+ 9pfs, virtiofs in 0.7).
    Guest { name: "linux", since: Version::V0_6, initrd: true, block: true, shared_fs: true },
    // "Initial support for Hermit unikernels over QEMU on amd64" (CHANGELOG
    // v0.8.0); hermit_rs.go 78c63f12: SupportsBlock false, SupportsFS
    // "initrd". The Hermit loader boots the application given as the
    // initrd (`-kernel <LOADER> -initrd <APP>`, hermit-os/loader README).
    Guest { name: "hermit", since: Version::V0_8, initrd: true, block: false, shared_fs: false },
    // PR #538, merged after v0.8.0 (issue #1033, 2026-09-08); freebsd.go
    // b8f61a81: root on the block device /dev/vtbd0 (ext2), no initrd.
    Guest { name: "freebsd", since: Version::Main, initrd: false, block: true, shared_fs: false },
];

/// A monitor (hypervisor or sandbox) urunc drives.
#[derive(Debug)]
pub struct Monitor {
    /// The `hypervisor` value.
    pub name: &'static str,
    /// The first version that has it.
    pub since: Version,
    /// Whether it passes an initrd to the guest.
    pub initrd: bool,
}

/// The monitors. `hedge` is left out: it was only ever a stub
/// (hypervisors/hedge.go), and 0.8 rejects every pair with it.
pub const MONITORS: &[Monitor] = &[
    // vmm.go id 36065346017 (<= 0.5: spt, hvt, qemu, firecracker, hedge).
    Monitor { name: "qemu", since: Version::V0_5, initrd: true },
    Monitor { name: "firecracker", since: Version::V0_5, initrd: true },
    // Solo5 has no initrd: hvt.go 46a96a5f ignores InitrdPath.
    Monitor { name: "hvt", since: Version::V0_5, initrd: false },
    Monitor { name: "spt", since: Version::V0_5, initrd: false },
    // "Add support for Cloud Hypervisor" (CHANGELOG v0.8.0); vmm.go id
    // 13872344168.
    Monitor { name: "cloud-hypervisor", since: Version::V0_8, initrd: true },
    // CHANGELOG v0.8.0; renamed from `hyperlight` before the release
    // (hyperlight-dev/hyperlight-unikraft#112, PR #632); hyperlight.go
    // 552ef127 passes `--initrd` only when one is set.
    Monitor { name: "hyperlight-unikraft", since: Version::V0_8, initrd: true },
];

/// Which guest runs on which monitor, since which version. urunc 0.8
/// checks pairs against its `supportedGuestMonitorPairs` (annotations.go id
/// 67340797462; main 19712873 adds FreeBSD). Before 0.8 urunc checks no
/// pair and attempts any; the pairs listed for those versions are the 0.8
/// table cut down to the guests and monitors the version has: the ones its
/// code has the monitor arguments for.
pub const PAIRS: &[(&str, &str, Version)] = &[
    ("unikraft", "qemu", Version::V0_5),
    ("unikraft", "firecracker", Version::V0_5),
    ("unikraft", "hyperlight-unikraft", Version::V0_8),
    ("rumprun", "hvt", Version::V0_5),
    ("rumprun", "spt", Version::V0_5),
    ("mirage", "hvt", Version::V0_5),
    ("mirage", "spt", Version::V0_5),
    ("mirage", "qemu", Version::V0_5),
    ("mewz", "qemu", Version::V0_6),
    ("linux", "qemu", Version::V0_6),
    ("linux", "firecracker", Version::V0_6),
    ("linux", "cloud-hypervisor", Version::V0_8),
    ("hermit", "qemu", Version::V0_8),
    ("freebsd", "qemu", Version::Main),
    ("freebsd", "firecracker", Version::Main),
];

/// The guest named `name`, in any version.
pub fn guest(name: &str) -> Option<&'static Guest> {
    GUESTS.iter().find(|g| g.name == name)
}

/// The monitor named `name`, in any version.
pub fn monitor(name: &str) -> Option<&'static Monitor> {
    MONITORS.iter().find(|m| m.name == name)
}

// ---------------------------------------------------------------------------
// Per-version facts

/// Where a version takes the guest's arguments from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgSource {
    /// The `cmdline` key only.
    Cmdline,
    /// `Process.Args` (the image's Entrypoint + Cmd); `cmdline` split at
    /// whitespace when Args is empty.
    ArgsThenCmdline,
    /// `Process.Args` only.
    Args,
}

/// How a version reads urunc keys that arrive as OCI runtime-spec
/// annotations (pod annotations, and from 0.8 the shim's copies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecAnnotations {
    /// base64-decoded, like urunc.json.
    Base64,
    /// Used as they are.
    Plain,
}

/// How an image's config Labels and manifest annotations reach urunc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKeys {
    /// They do not: the shim is runc's, and only `/urunc.json` counts for
    /// images run by Docker, nerdctl, ctr or Kubernetes.
    UruncJsonOnly,
    /// The shim copies `com.urunc.unikernel.*` from the containerd
    /// container's Labels and, when the container's image is a manifest,
    /// from its annotations into the spec (spec > manifest > labels). Which
    /// of those each consumer fills is in `rules::readers`.
    ShimCopies,
}

/// How a version picks the guest's root filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootfsOrder {
    /// `block` if set; else the container rootfs as a block device on
    /// devmapper unless `useDMBlock` is `false` (an empty or invalid value
    /// counts as true); the initrd is passed on beside it.
    Devmapper,
    /// initrd > `block` mounted at `/` > the container rootfs (`mountRootfs`:
    /// block on devmapper, else virtiofs, else 9pfs) > none.
    InitrdFirst,
}

/// What a Linux guest's init gets besides its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinuxProcess {
    /// env on the kernel command line; WorkingDir and User dropped.
    KernelCommandLine,
    /// An init whose path contains `urunit` gets env, WorkingDir and User
    /// in a config file urunc adds to the initrd; any other init gets env on
    /// the kernel command line, and WorkingDir and User are dropped.
    UrunitConfig,
}

/// The facts of one version that are not tables of their own.
#[derive(Debug)]
pub struct Facts {
    /// The version.
    pub version: Version,
    /// The release date, or `unreleased`.
    pub released: &'static str,
    /// Where the guest's arguments come from.
    pub args: ArgSource,
    /// How spec annotations are read.
    pub spec_annotations: SpecAnnotations,
    /// How the image's Labels and manifest annotations reach urunc.
    pub image_keys: ImageKeys,
    /// Whether `block` without `blkMntPoint` is an error.
    pub block_needs_mount_point: bool,
    /// How the guest's rootfs is picked.
    pub rootfs: RootfsOrder,
    /// What a Linux guest's init gets.
    pub linux: LinuxProcess,
    /// Whether hyperlight-unikraft guests get their arguments.
    pub hyperlight_args: bool,
    /// Whether FreeBSD on qemu gets its block root attached.
    pub freebsd_qemu_block: bool,
}

/// One entry per version, in [`ALL`]'s order.
const FACTS: [Facts; 5] = [
    Facts {
        version: Version::V0_5,
        released: "2025-04-10",
        // Process.Args came with PR #155 (2025-05-06), after v0.5.0.
        args: ArgSource::Cmdline,
        // config.go id 25623736931: spec values base64-decoded.
        spec_annotations: SpecAnnotations::Base64,
        // The plain runc shim (cmd/containerd-shim-urunc-v2 before PR #565).
        image_keys: ImageKeys::UruncJsonOnly,
        // handleExplicitBlockImage (block.go) does not exist yet: a block
        // annotation alone is enough (unikontainers.go id 35967310976).
        block_needs_mount_point: false,
        rootfs: RootfsOrder::Devmapper,
        // No Linux guest in 0.5; unused.
        linux: LinuxProcess::KernelCommandLine,
        hyperlight_args: false,
        freebsd_qemu_block: false,
    },
    Facts {
        version: Version::V0_6,
        released: "2025-07-04",
        // "Add support for cli options at the runtime" (CHANGELOG v0.6.0,
        // PR #155); unikontainers.go id 35967310976.
        args: ArgSource::ArgsThenCmdline,
        spec_annotations: SpecAnnotations::Base64,
        image_keys: ImageKeys::UruncJsonOnly,
        // Established from 0.7 on (block.go 46a96a5f); not for 0.6, so
        // bimanix assumes the stricter rule, which every version accepts.
        block_needs_mount_point: true,
        // "Replace useDMBlock annotation with mountRootfs" (CHANGELOG v0.6.0).
        rootfs: RootfsOrder::InitrdFirst,
        // linux.go id 36599488217: env always on the kernel command line,
        // no urunit config.
        linux: LinuxProcess::KernelCommandLine,
        hyperlight_args: false,
        freebsd_qemu_block: false,
    },
    Facts {
        version: Version::V0_7,
        released: "2025-12-23",
        args: ArgSource::ArgsThenCmdline,
        // config.go 9cd1b305, the base of PR #565: still decodes.
        spec_annotations: SpecAnnotations::Base64,
        image_keys: ImageKeys::UruncJsonOnly,
        block_needs_mount_point: true,
        // rootfs.go 20a97c15 (chooseRootfs priority).
        rootfs: RootfsOrder::InitrdFirst,
        // "Use an initrd file to pass information from urunc to urunit"
        // (CHANGELOG v0.7.0, breaking; linux.go 1b26bc7c, PR #293).
        linux: LinuxProcess::UrunitConfig,
        hyperlight_args: false,
        freebsd_qemu_block: false,
    },
    Facts {
        version: Version::V0_8,
        released: "2026-09-07",
        // CHANGELOG v0.8.0 "cmdline annotations got deprecated"; PR #1017.
        args: ArgSource::Args,
        // PR #565 removed the decode (config.go 2b645c48).
        spec_annotations: SpecAnnotations::Plain,
        // PR #565, "shim: read OCI manifest annotations through the
        // containerd API" (CHANGELOG v0.8.0); shim annotations.go 59d095a4.
        // Which consumer gives the shim what: `rules::readers`.
        image_keys: ImageKeys::ShimCopies,
        block_needs_mount_point: true,
        rootfs: RootfsOrder::InitrdFirst,
        linux: LinuxProcess::UrunitConfig,
        // hyperlight.go 552ef127: the command is the binary, --initrd and
        // --memory; "Pass the app cmdline" is a TODO.
        hyperlight_args: false,
        freebsd_qemu_block: false,
    },
    Facts {
        version: Version::Main,
        released: "unreleased",
        args: ArgSource::Args,
        spec_annotations: SpecAnnotations::Plain,
        image_keys: ImageKeys::ShimCopies,
        block_needs_mount_point: true,
        rootfs: RootfsOrder::InitrdFirst,
        linux: LinuxProcess::UrunitConfig,
        hyperlight_args: false,
        // freebsd.go b8f61a81: the qemu net and block code is commented out
        // ("not working properly"); only firecracker gets the block root.
        freebsd_qemu_block: false,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(Version::parse("0.8"), Ok(Version::V0_8));
        assert_eq!(Version::parse("v0.6"), Ok(Version::V0_6));
        assert_eq!(Version::parse("0.7.2"), Ok(Version::V0_7));
        assert_eq!(Version::parse(" main "), Ok(Version::Main));
        for bad in ["0.9", "1.0", "0.8.x", "0.8.", "latest", "", "0"] {
            let e = Version::parse(bad).unwrap_err();
            assert!(e.contains("0.5-main"), "{bad}: {e}");
        }
    }

    #[test]
    fn targets_parse() {
        let t = |s: &str| Targets::parse(s).map(|t| t.versions().to_vec());
        assert_eq!(t("0.8"), Ok(vec![Version::V0_8]));
        assert_eq!(t("0.6-main"), Ok(vec![Version::V0_6, Version::V0_7, Version::V0_8, Version::Main]));
        assert_eq!(t("main,0.5,0.5"), Ok(vec![Version::V0_5, Version::Main]));
        assert_eq!(t("0.5, 0.7-0.8"), Ok(vec![Version::V0_5, Version::V0_7, Version::V0_8]));
        assert!(t("main-0.6").unwrap_err().contains("write `0.6-main`"));
        assert!(t("0.6,").unwrap_err().contains("empty entry"));
        assert!(t("0.4").unwrap_err().contains("unknown urunc version `0.4`"));
        assert_eq!(Targets::default().versions(), [NEWEST_RELEASE]);
        assert_eq!(Targets::parse("0.6-main").unwrap().to_string(), "0.6-main");
        assert_eq!(Targets::parse("0.5,0.7,0.8").unwrap().to_string(), "0.5, 0.7-0.8");
    }

    #[test]
    fn facts_are_in_version_order() {
        for v in ALL {
            assert_eq!(v.facts().version, v);
        }
    }

    #[test]
    fn keys_by_version() {
        assert!(Version::V0_5.reads("useDMBlock") && !Version::V0_6.reads("useDMBlock"));
        assert!(!Version::V0_5.reads("mountRootfs") && Version::Main.reads("mountRootfs"));
        assert!(Version::V0_7.reads("cmdline") && !Version::V0_8.reads("cmdline"));
        assert!(!Version::V0_7.reads("solo5BlkDev") && Version::V0_8.reads("solo5BlkDev"));
        assert!(ALL.iter().all(|v| v.reads("binary") && !v.reads("vAccel")));
    }

    #[test]
    fn guests_and_pairs_by_version() {
        let names = |v: Version| GUESTS.iter().filter(|g| g.since <= v).map(|g| g.name).collect::<Vec<_>>();
        assert_eq!(names(Version::V0_5), ["unikraft", "rumprun", "mirage"]);
        assert_eq!(names(Version::V0_7), ["unikraft", "rumprun", "mirage", "mewz", "linux"]);
        assert!(names(Version::V0_8).contains(&"hermit") && !names(Version::V0_8).contains(&"freebsd"));
        assert!(names(Version::Main).contains(&"freebsd"));
        assert!(!Version::V0_8.runs("freebsd", "firecracker") && Version::Main.runs("freebsd", "firecracker"));
        assert!(!Version::V0_7.runs("linux", "cloud-hypervisor") && Version::V0_8.runs("linux", "cloud-hypervisor"));
        assert_eq!(Version::Main.monitors_for("freebsd"), ["qemu", "firecracker"]);
        // Every pair names a guest and a monitor that exist by then.
        for &(g, m, since) in PAIRS {
            assert!(guest(g).is_some_and(|g| g.since <= since), "{g}");
            assert!(monitor(m).is_some_and(|m| m.since <= since), "{m}");
        }
    }

    #[test]
    fn version_lists_read_well() {
        assert_eq!(names(&ALL), "0.5-main");
        assert_eq!(names(&[Version::V0_5, Version::V0_7]), "0.5, 0.7");
        assert_eq!(names(&[Version::V0_8]), "0.8");
        assert_eq!(names(&[]), "");
    }
}
