//! Stages: global `ARG`s before the first `FROM`, the `FROM` lines (`AS
//! name`, `--platform`), and which image each names. bimanix builds the
//! last stage; an earlier stage may only name an image, for `COPY --from`
//! and `FROM <stage>`: running a stage's instructions would need a
//! container engine.

use std::path::Path;
use std::rc::Rc;

use super::lines::{Char, Instruction};
use super::words::{self, split_raw, text};
use super::{Reader, Source, Stage};
use crate::input::args::clean;
use crate::model::urunc;
use crate::model::value::Pos;

impl Reader {
    /// Reads every instruction: the stages, then the last stage's image.
    pub(super) fn run(&mut self, instructions: &[Instruction]) {
        let froms: Vec<usize> =
            instructions.iter().enumerate().filter(|(_, i)| i.keyword == "FROM").map(|(n, _)| n).collect();
        let Some(&last) = froms.last() else {
            let pos = instructions.first().map_or(Pos { line: 1, col: 1 }, |i| i.pos);
            self.err(pos, "FROM", "missing; a Containerfile starts with FROM scratch or FROM <image>");
            return;
        };
        let mut global = std::collections::BTreeMap::new();
        for ins in &instructions[..froms[0]] {
            if self.budget.overdrawn() {
                return;
            }
            if ins.keyword == "ARG" {
                for (name, value) in self.declare_args(ins, &|n| global.get(n).cloned()) {
                    global.insert(name, value.unwrap_or_default());
                }
            } else {
                self.err(ins.pos, &ins.keyword, "only ARG may come before the first FROM");
            }
        }
        let global_lookup = |n: &str| global.get(n).cloned();
        for (k, &at) in froms.iter().enumerate() {
            if self.budget.overdrawn() {
                return;
            }
            let end = froms.get(k + 1).copied().unwrap_or(instructions.len());
            let Some((stage, pos)) = self.from(&instructions[at], &global_lookup) else { continue };
            if at != last {
                self.earlier_stage(&stage, &instructions[at + 1..end]);
                if let Some(name) = &stage.name {
                    self.stage_names.entry(name.clone()).or_insert(self.stages.len());
                }
                self.stages.push(stage);
                continue;
            }
            self.loc.keys.insert("annotations".into(), instructions[at].pos);
            if let Some((arch, at)) = &stage.platform {
                self.image.architecture = Some(arch.clone());
                self.set_at("architecture", "FROM --platform", *at);
            }
            if let Source::Archive(path, _) = &stage.source {
                self.image.from = Some(path.clone());
                self.loc.keys.insert("fromImage".into(), pos);
                // Until an instruction sets them, these come from the base image.
                for key in ["env", "cmd", "entrypoint", "workingDir"] {
                    self.set_at(key, "FROM", pos);
                }
                self.base(path, instructions[at].pos);
            }
            for ins in &instructions[at + 1..end] {
                if self.budget.overdrawn() {
                    return;
                }
                self.instruction(ins, &global_lookup);
            }
            self.finish();
        }
    }

    /// An earlier stage may hold only ARGs: bimanix copies out of images,
    /// it does not build them.
    fn earlier_stage(&mut self, stage: &Stage, rest: &[Instruction]) {
        for ins in rest.iter().filter(|i| i.keyword != "ARG") {
            let name = stage.name.as_deref().map_or(String::new(), |n| format!(" `{n}`"));
            self.err(
                ins.pos,
                &ins.keyword,
                format_args!(
                    "stage{name} is not the last one: bimanix builds only the last stage, and an earlier stage may \
                     only name an image (FROM <image> AS name) to COPY --from; build this stage with docker and \
                     name the saved archive in FROM"
                ),
            );
        }
    }

    /// `FROM [--platform=P] image [AS name]`: the stage (its image with the
    /// architecture `--platform` chose, or an earlier stage's) and where the
    /// image is named.
    fn from(&mut self, ins: &Instruction, vars: &dyn Fn(&str) -> Option<String>) -> Option<(Stage, Pos)> {
        let raw = split_raw(&ins.args, self.escape);
        let mut platform = None;
        let mut rest: &[&[Char]] = &raw;
        while let Some(first) = rest.first().filter(|w| text(w).starts_with("--")) {
            let flag = text(first);
            match flag.strip_prefix("--platform=") {
                Some(_) => platform = self.platform(first, vars).map(|arch| (arch, first[0].1)),
                None => self.err(first[0].1, "FROM", format_args!("unknown flag {flag}; FROM takes --platform")),
            }
            rest = &rest[1..];
        }
        let (image, name) = match rest {
            [image] => (image, None),
            [image, as_, name] if text(as_).eq_ignore_ascii_case("as") => (image, Some(name)),
            _ => {
                self.err(ins.pos, "FROM", "write FROM <image> [AS <name>]");
                return None;
            }
        };
        let reference = self.expand(image, vars)?;
        let source = match (self.source(&reference, image[0].1, "FROM")?, &platform) {
            (Source::Archive(path, _), Some(platform)) => Source::Archive(path, Some(platform.clone())),
            (source, _) => source,
        };
        let name = match name {
            Some(n) => Some(self.stage_name(n)?),
            None => None,
        };
        Some((Stage { name, source, platform }, image[0].1))
    }

    fn stage_name(&mut self, raw: &[Char]) -> Option<String> {
        let name = text(raw).to_ascii_lowercase();
        let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
        if !ok {
            self.err(
                raw[0].1,
                "FROM",
                format_args!(
                    "stage name {name:?} must start with a letter and hold only letters, digits, '-', '_' and '.'"
                ),
            );
            return None;
        }
        if self.stage_names.contains_key(&name) {
            self.err(raw[0].1, "FROM", format_args!("stage name {name:?} is used twice"));
            return None;
        }
        Some(name)
    }

    /// `--platform=os/arch[/variant]`: the architecture for `linux`.
    fn platform(&mut self, flag: &[Char], vars: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        let value = self.expand(&flag["--platform=".len()..], vars)?;
        let mut parts = value.split('/');
        match (parts.next(), parts.next()) {
            (Some("linux"), Some(arch)) if !arch.is_empty() => Some(crate::input::foreign::oci_arch(arch)),
            _ => {
                let written = text(flag);
                let why = if written.contains('$') {
                    format!(
                        "{written} expands to {value:?}: bimanix sets none of Docker's automatic platform \
                         variables (BUILDPLATFORM, TARGETPLATFORM, ...); write --platform=linux/<arch>, e.g. \
                         linux/amd64"
                    )
                } else {
                    format!("--platform={value}: urunc images are linux/<arch>, e.g. linux/amd64")
                };
                self.err(flag[0].1, "FROM", why);
                None
            }
        }
    }

    /// What a FROM or `COPY --from` names: `scratch`, an earlier stage (by
    /// name or number), an image archive path, or an image reference that
    /// `--base` gives an archive for.
    pub(super) fn source(&mut self, reference: &str, pos: Pos, what: &str) -> Option<Source> {
        if reference.eq_ignore_ascii_case("scratch") {
            return Some(Source::Scratch);
        }
        let lower = reference.to_ascii_lowercase();
        if let Some(&i) = self.stage_names.get(&lower) {
            return Some(self.stages[i].source.clone());
        }
        if let Ok(n) = reference.parse::<usize>() {
            return match self.stages.get(n) {
                Some(stage) => Some(stage.source.clone()),
                None => {
                    self.err(pos, what, format_args!("there is no earlier stage {n}"));
                    None
                }
            };
        }
        if looks_like_path(reference) {
            let path = clean(&self.context.join(reference));
            if !path.exists() {
                self.err(
                    pos,
                    what,
                    format_args!("{} does not exist; name an image archive or OCI layout", path.display()),
                );
                return None;
            }
            return Some(Source::Archive(path, None));
        }
        match self.bases.archive(reference) {
            Ok(path) => Some(Source::Archive(path, None)),
            Err(e) => {
                self.err(pos, what, e);
                None
            }
        }
    }

    /// Reads the base image's Env (for expansion) and its urunc labels,
    /// which the image keeps unless LABEL changes them, as Docker does.
    fn base(&mut self, path: &Path, pos: Pos) {
        let arch = self.image.architecture.clone();
        let image = match crate::imageread::Image::open_for(path, arch.as_deref()) {
            Ok(image) => image,
            Err(e) => {
                self.err(pos, "FROM", super::image_error(path, &e));
                return;
            }
        };
        for kv in &image.config.env {
            if let Some((k, v)) = kv.split_once('=') {
                Rc::make_mut(&mut self.image.vars).insert(k.to_string(), v.to_string());
            }
        }
        for (key, value) in &image.config.labels {
            let Some(short) = key.strip_prefix(urunc::PREFIX) else { continue };
            let short = if short == "version" { "unikernelVersion" } else { short };
            if urunc::KEYS.contains(&short) && !value.is_empty() {
                self.image.annotations.insert(short.to_string(), value.clone());
                self.loc.keys.insert(format!("annotations.{short}"), pos);
            }
        }
    }

    /// One raw word, expanded; an error is recorded.
    pub(super) fn expand(&mut self, raw: &[Char], vars: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        match words::word(raw, self.escape, vars, &self.budget) {
            Ok(w) => Some(w),
            Err((pos, msg)) => {
                self.err(pos, "syntax", msg);
                None
            }
        }
    }
}

/// Whether a FROM argument names a file rather than an image reference.
fn looks_like_path(reference: &str) -> bool {
    reference.starts_with('/')
        || reference.starts_with("./")
        || reference.starts_with("../")
        || [".tar", ".tar.gz", ".tgz", ".tar.zst"].iter().any(|s| reference.ends_with(s))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::input::foreign::Options;

    fn read(text: &str) -> anyhow::Result<crate::input::foreign::Read> {
        super::super::read_text(text, "Containerfile", Path::new("/nonexistent/ctx"), &Options::default())
    }

    #[test]
    fn stage_names_are_found_among_many_and_refused_twice() {
        let stages: String = (0..20_000).map(|i| format!("FROM scratch AS s{i}\n")).collect();
        let spec = read(&format!("{stages}FROM s19999\nFROM S7\nCMD [\"x\"]\n")).unwrap().spec;
        assert_eq!(spec.from_image, None, "s7 is a scratch stage");
        assert_eq!(spec.cmd, Some(vec!["x".to_string()]));
        let e = read(&format!("{stages}FROM scratch AS s12345\n")).unwrap_err().to_string();
        assert!(e.contains("Containerfile:20001:") && e.contains("stage name \"s12345\" is used twice"), "{e}");
    }
}
