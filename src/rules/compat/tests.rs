//! Tests of `rules::compat`: for each rule, a version that accepts and one
//! that rejects, misreads or ignores.

use super::*;
use crate::rules::versions::Version::{Main, V0_5, V0_6, V0_7, V0_8};

/// An image: urunc keys plus Entrypoint/Cmd/Env/WorkingDir/User.
#[derive(Clone, Default)]
struct Image {
    keys: BTreeMap<String, String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    env: Vec<String>,
    working_dir: Option<String>,
    user: Option<String>,
}

fn image(pairs: &[(&str, &str)]) -> Image {
    Image { keys: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Image::default() }
}

fn words(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl Image {
    fn with(mut self, key: &str, value: &str) -> Image {
        self.keys.insert(key.to_string(), value.to_string());
        self
    }

    fn cmd(mut self, cmd: &[&str]) -> Image {
        self.cmd = words(cmd);
        self
    }

    fn guest(&self) -> Guest<'_> {
        Guest {
            keys: &self.keys,
            entrypoint: &self.entrypoint,
            cmd: &self.cmd,
            env: &self.env,
            working_dir: self.working_dir.as_deref(),
            user: self.user.as_deref(),
        }
    }

    fn verdict(&self, version: Version) -> Verdict {
        evaluate(version, &self.guest())
    }

    /// The problems for `versions` as targets, pair check on.
    fn problems(&self, versions: &[Version]) -> Vec<Problem> {
        let verdicts: Vec<Verdict> = versions.iter().map(|&v| self.verdict(v)).collect();
        problems(&verdicts, true)
    }
}

fn linux() -> Image {
    image(&[("unikernelType", "linux"), ("hypervisor", "qemu"), ("binary", "/kernel")]).cmd(&["/init", "x"])
}

fn of(problems: &[Problem], severity: Severity) -> Vec<String> {
    problems.iter().filter(|p| p.severity == severity).map(|p| p.message.clone()).collect()
}

/// The only problem, which must have this severity and mention every word.
fn only(problems: &[Problem], severity: Severity, words: &[&str]) {
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].severity, severity, "{problems:#?}");
    for word in words {
        assert!(problems[0].message.contains(word), "{:?} lacks {word:?}", problems[0].message);
    }
}

#[test]
fn a_plain_image_passes_every_version_that_has_its_guest() {
    for v in [V0_6, V0_7, V0_8, Main] {
        let verdict = linux().verdict(v);
        assert!(verdict.accepted(), "{v}: {:?}", verdict.rejected);
        assert_eq!(linux().problems(&[v]), [], "{v}");
    }
    let old = linux().verdict(V0_5);
    assert!(!old.accepted());
    only(&linux().problems(&[V0_5]), Severity::Error, &["urunc 0.5:", "unikernel type `linux`", "since 0.6"]);
}

#[test]
fn guests_by_version() {
    let hermit = image(&[("unikernelType", "hermit"), ("hypervisor", "qemu"), ("binary", "/loader")])
        .with("initrd", "/app")
        .cmd(&["app"]);
    assert!(hermit.verdict(V0_8).accepted());
    only(&hermit.problems(&[V0_7]), Severity::Error, &["urunc 0.7:", "`hermit`", "since 0.8"]);

    let freebsd = image(&[("unikernelType", "freebsd"), ("hypervisor", "firecracker"), ("binary", "/kernel")])
        .with("block", "/disk")
        .with("blkMntPoint", "/")
        .cmd(&["/bin/sh"]);
    assert_eq!(freebsd.problems(&[Main]), []);
    only(&freebsd.problems(&[V0_8]), Severity::Error, &["urunc 0.8:", "`freebsd`", "since main"]);

    let mewz = image(&[("unikernelType", "mewz"), ("hypervisor", "qemu"), ("binary", "/kernel")]);
    assert!(mewz.verdict(V0_6).accepted() && !mewz.verdict(V0_5).accepted());
}

#[test]
fn monitors_by_version() {
    let ch = linux().with("hypervisor", "cloud-hypervisor");
    assert_eq!(ch.problems(&[V0_8]), []);
    only(&ch.problems(&[V0_7]), Severity::Error, &["hypervisor `cloud-hypervisor`", "since 0.8"]);
    assert_eq!(ch.problems(&[V0_7])[0].key, Some("hypervisor"));

    // hyperlight-unikraft needs no initrd: urunc passes --initrd only when set.
    let hyperlight =
        image(&[("unikernelType", "unikraft"), ("hypervisor", "hyperlight-unikraft"), ("binary", "/kernel")]);
    assert_eq!(hyperlight.problems(&[V0_8, Main]), []);
    assert!(!hyperlight.verdict(V0_7).accepted());
}

#[test]
fn pairs_by_version_and_the_pair_check() {
    // FreeBSD on firecracker: main only (0.8 has no FreeBSD at all).
    let rumprun_qemu = image(&[("unikernelType", "rumprun"), ("hypervisor", "qemu"), ("binary", "/k")]).cmd(&["x"]);
    let problems = rumprun_qemu.problems(&[V0_7, V0_8]);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].message.starts_with("urunc 0.7: has no support for rumprun on qemu; rumprun runs on hvt, spt"));
    assert!(problems[1].message.starts_with("urunc 0.8: refuses rumprun on qemu"));
    let verdicts = [rumprun_qemu.verdict(V0_8)];
    let relaxed = super::problems(&verdicts, false);
    only(&relaxed, Severity::Warning, &["refuses rumprun on qemu", "--no-pair-check"]);
    assert!(!verdicts[0].accepted(), "the table still says what urunc does");
}

#[test]
fn block_needs_a_mount_point_from_0_6() {
    let rumprun = image(&[("unikernelType", "rumprun"), ("hypervisor", "hvt"), ("binary", "/k")])
        .with("block", "/data.img")
        .with("cmdline", "x")
        .cmd(&["x"]);
    assert_eq!(rumprun.problems(&[V0_5]), []);
    assert_eq!(rumprun.verdict(V0_5).rootfs, Rootfs::new("block", "/data.img at (no mount point)"));
    only(&rumprun.problems(&[V0_7]), Severity::Error, &["urunc 0.7:", "without `blkMntPoint`"]);
    let with = rumprun.with("blkMntPoint", "/data");
    assert_eq!(with.problems(&[V0_7]), []);
    assert_eq!(with.verdict(V0_7).rootfs, Rootfs::new("none", "/data.img mounted at /data"));
}

#[test]
fn use_dm_block_and_mount_rootfs_by_version() {
    let dm = linux().with("useDMBlock", "false");
    assert!(of(&dm.problems(&[V0_6]), Severity::Warning)[0].contains("ignores `useDMBlock`"));
    let rumprun = || {
        image(&[("unikernelType", "rumprun"), ("hypervisor", "hvt"), ("binary", "/k")]).with("cmdline", "x").cmd(&["x"])
    };
    assert_eq!(rumprun().with("useDMBlock", "false").problems(&[V0_5]), []);

    let mount = rumprun().with("mountRootfs", "true");
    only(&mount.problems(&[V0_5]), Severity::Warning, &["urunc 0.5:", "ignores `mountRootfs`"]);
    assert_eq!(mount.problems(&[V0_6]), []);
    assert_eq!(mount.verdict(V0_6).rootfs.kind, "mountRootfs");
    // 0.5 reads useDMBlock; unset, it tries the devmapper rootfs.
    assert_eq!(mount.verdict(V0_5).rootfs.kind, "useDMBlock");
}

#[test]
fn solo5_device_names_by_version() {
    let mirage = image(&[("unikernelType", "mirage"), ("hypervisor", "hvt"), ("binary", "/k")])
        .with("block", "/disk")
        .with("blkMntPoint", "/")
        .with("solo5BlkDev", "database")
        .cmd(&["x"]);
    assert_eq!(mirage.problems(&[V0_8, Main]), []);
    only(&mirage.problems(&[V0_7]), Severity::Warning, &["urunc 0.7:", "ignores `solo5BlkDev`", "`storage`"]);
    // The default name changes nothing where the key is ignored.
    assert_eq!(mirage.with("solo5BlkDev", "storage").problems(&[V0_7]), []);
    let unikraft = image(&[("unikernelType", "unikraft"), ("hypervisor", "qemu"), ("binary", "/k")])
        .with("solo5NetDev", "net0")
        .cmd(&["x"]);
    only(&unikraft.problems(&[V0_8]), Severity::Warning, &["only for mirage on hvt or spt"]);
}

#[test]
fn mirage_block_only_on_solo5() {
    let mirage = image(&[("unikernelType", "mirage"), ("hypervisor", "qemu"), ("binary", "/k")])
        .with("block", "/disk")
        .with("blkMntPoint", "/")
        .cmd(&["x"]);
    only(&mirage.problems(&[V0_8]), Severity::Warning, &["hvt and spt only"]);
}

#[test]
fn arguments_by_version() {
    let both = linux().with("cmdline", "/init x");
    let v5 = image(&[("unikernelType", "rumprun"), ("hypervisor", "hvt"), ("binary", "/k")]).with("cmdline", "a 'b c'");
    assert_eq!(v5.verdict(V0_5).arguments.from, "cmdline");
    assert_eq!(v5.verdict(V0_5).arguments.words, words(&["a", "b c"]));
    assert_eq!(v5.verdict(V0_6).arguments.from, "cmdline split at whitespace");
    assert_eq!(v5.verdict(V0_6).arguments.words, words(&["a", "'b", "c'"]));
    assert_eq!(v5.verdict(V0_8).arguments.from, "none");
    // 0.8 ignores the cmdline and passes nothing: a loss, so a warning.
    only(&v5.problems(&[V0_8]), Severity::Warning, &["ignores `cmdline`", "no arguments"]);
    assert_eq!(both.verdict(V0_8).arguments.words, words(&["/init", "x"]));
    assert_eq!(both.problems(&[V0_6, V0_8]), []);
}

#[test]
fn cmdline_and_entrypoint_cmd_disagreeing() {
    let rumprun = image(&[("unikernelType", "rumprun"), ("hypervisor", "hvt"), ("binary", "/k")])
        .with("cmdline", "hello world")
        .cmd(&["other"]);
    // One target reading Entrypoint + Cmd: the ignored cmdline is a warning.
    only(
        &rumprun.problems(&[V0_8]),
        Severity::Warning,
        &["urunc 0.8:", "ignores `cmdline` `hello world`", "[\"other\"]"],
    );
    only(&rumprun.problems(&[V0_5]), Severity::Warning, &["urunc 0.5:", "reads only `cmdline`", "[\"other\"]"]);
    // Targets reading one and the other: they would run it differently.
    only(
        &rumprun.problems(&[V0_5, V0_6, V0_8]),
        Severity::Error,
        &["differ", "urunc 0.5 gives `hello world` (cmdline)", "urunc 0.6, 0.8 gives [\"other\"] (Entrypoint+Cmd)"],
    );
    let verdicts: Vec<Verdict> = versions::ALL.iter().map(|&v| rumprun.verdict(v)).collect();
    assert_eq!(differs(&verdicts), [true, false, false, false, false]);

    // What bimanix writes for 0.5 (the words joined) agrees.
    let joined = rumprun.with("cmdline", "other");
    assert_eq!(joined.problems(&[V0_5, V0_8]), []);
    let spaced = image(&[("unikernelType", "rumprun"), ("hypervisor", "hvt"), ("binary", "/k")])
        .with("cmdline", "a b c")
        .cmd(&["a", "b c"]);
    assert_eq!(spaced.problems(&[V0_5, V0_8]), []);
    // 0.5 without cmdline gets no arguments.
    let no_line = image(&[("unikernelType", "rumprun"), ("hypervisor", "hvt"), ("binary", "/k")]).cmd(&["x"]);
    only(&no_line.problems(&[V0_5]), Severity::Warning, &["which is unset", "no arguments"]);
}

#[test]
fn a_quote_in_a_linux_argument() {
    let quoted = linux().cmd(&["/init", "it's"]);
    for v in [V0_6, V0_7, V0_8, Main] {
        only(&quoted.problems(&[v]), Severity::Error, &["`it's`", "issue 897"]);
        assert_eq!(quoted.problems(&[v])[0].field, Some("cmd"));
    }
    // 0.7 falls back to cmdline when Entrypoint + Cmd are empty; 0.8 does not.
    let mut fallback = linux().with("cmdline", "/init it's");
    fallback.cmd.clear();
    assert!(of(&fallback.problems(&[V0_7]), Severity::Error)[0].contains("`it's`"));
    assert!(of(&fallback.problems(&[V0_8]), Severity::Error).is_empty());
    // A unikernel has no such quoting.
    let unikraft = image(&[("unikernelType", "unikraft"), ("hypervisor", "qemu"), ("binary", "/k")]).cmd(&["it's"]);
    assert_eq!(unikraft.problems(&[V0_8]), []);
}

#[test]
fn a_linux_init_that_is_not_urunit() {
    let mut plain = linux();
    plain.env = words(&["A=1", "B=two words"]);
    plain.working_dir = Some("/srv".into());
    plain.user = Some("1000".into());
    let warnings = of(&plain.problems(&[V0_8]), Severity::Warning);
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[0].contains("drops WorkingDir `/srv`") && warnings[0].contains("(`/init`) is not urunit"));
    assert!(warnings[1].contains("drops User `1000`"));
    assert!(warnings[2].contains("`B=two words` holds a space"), "{warnings:?}");

    // urunit gets all of it from 0.7 on; 0.6 has no urunit config.
    let mut urunit = plain;
    urunit.cmd = words(&["/usr/bin/urunit", "/app", "two words"]);
    assert_eq!(urunit.problems(&[V0_7, V0_8, Main]), []);
    assert_eq!(of(&urunit.problems(&[V0_6]), Severity::Warning).len(), 3);

    let spaced = linux().cmd(&["/init", "two words"]);
    only(&spaced.problems(&[V0_8]), Severity::Warning, &["single-quotes the argument `two words`", "`/init` does not"]);
}

#[test]
fn env_warns_only_for_values_the_kernel_command_line_mangles() {
    for (kv, why) in
        [("A=x y", "a space"), ("A=\"q\"", "a double quote"), ("A=it's", "a single quote"), ("A=--x", "`--`")]
    {
        let mut guest = linux();
        guest.env = words(&["PATH=/bin:/usr/bin", "PLAIN=1", kv]);
        let warnings = of(&guest.problems(&[V0_8]), Severity::Warning);
        assert_eq!(warnings.len(), 1, "{kv}: {warnings:?}");
        assert!(warnings[0].contains(&format!("holds {why}")), "{kv}: {warnings:?}");
    }
    let mut plain = linux();
    plain.env = words(&["PATH=/bin:/usr/bin", "A=1", "URL=http://x/?a=b&c"]);
    assert_eq!(of(&plain.problems(&[V0_8]), Severity::Warning), Vec::<String>::new());
}

#[test]
fn the_quoting_warning_is_for_stock_inits_only() {
    for init in ["/sbin/init", "/init", "/bin/sh", "/bin/busybox", "/lib/systemd/systemd", "/linuxrc"] {
        let guest = linux().cmd(&[init, "two words"]);
        only(&guest.problems(&[V0_8]), Severity::Warning, &["single-quotes the argument `two words`"]);
    }
    // The README's example: its own program as argv0 puts the words back together.
    for init in ["/hello", "/usr/bin/app", "/initialize"] {
        assert_eq!(linux().cmd(&[init, "two words"]).problems(&[V0_8]), [], "{init}");
    }
}

#[test]
fn storage_notes_by_guest() {
    let hermit = image(&[("unikernelType", "hermit"), ("hypervisor", "qemu"), ("binary", "/loader")]);
    only(&hermit.problems(&[V0_8]), Severity::Warning, &["Hermit", "without `initrd`"]);
    let freebsd = image(&[("unikernelType", "freebsd"), ("hypervisor", "qemu"), ("binary", "/k")]).cmd(&["/sbin/init"]);
    only(&freebsd.problems(&[Main]), Severity::Warning, &["FreeBSD on qemu", "firecracker works"]);
    let hyperlight = image(&[("unikernelType", "unikraft"), ("hypervisor", "hyperlight-unikraft"), ("binary", "/k")])
        .cmd(&["app", "-v"]);
    only(&hyperlight.problems(&[V0_8]), Severity::Warning, &["passes no arguments to hyperlight-unikraft"]);
    assert_eq!(hyperlight.verdict(V0_8).arguments.from, "none (hyperlight-unikraft passes none)");
}

#[test]
fn rootfs_by_version() {
    let initrd = linux().with("initrd", "/rootfs.cpio").with("block", "/disk").with("blkMntPoint", "/");
    assert_eq!(initrd.verdict(V0_7).rootfs, Rootfs::new("initrd", "/rootfs.cpio"));
    let block = linux().with("block", "/disk").with("blkMntPoint", "/");
    assert_eq!(block.verdict(V0_8).rootfs, Rootfs::new("block", "/disk at /"));
    let shared = image(&[("unikernelType", "unikraft"), ("hypervisor", "qemu"), ("binary", "/k")])
        .with("mountRootfs", "True")
        .cmd(&["x"]);
    assert_eq!(shared.verdict(V0_8).rootfs, Rootfs::new("mountRootfs", "the container rootfs as virtiofs or 9pfs"));
    assert_eq!(shared.verdict(V0_5).rootfs, Rootfs::new("none", ""));
    // hvt has no initrd.
    let solo5 = image(&[("unikernelType", "unikraft"), ("hypervisor", "hvt"), ("binary", "/k")]).with("initrd", "/i");
    assert_eq!(solo5.verdict(V0_8).rootfs.kind, "none");
}

#[test]
fn problems_name_the_versions_they_apply_to() {
    let dm = linux().with("useDMBlock", "true");
    let problems = dm.problems(&[V0_6, V0_7, V0_8, Main]);
    only(&problems, Severity::Warning, &["urunc 0.6-main: ignores `useDMBlock`"]);
    let mixed = linux().with("useDMBlock", "true").problems(&[V0_5, V0_7]);
    assert!(mixed.iter().any(|p| p.message.starts_with("urunc 0.7: ignores `useDMBlock`")), "{mixed:#?}");
    assert!(mixed.iter().any(|p| p.message.starts_with("urunc 0.5: does not know")), "{mixed:#?}");
}
