//! The instructions of the last stage: what each sets in the spec, and
//! the errors for those that would need a container engine.

use std::rc::Rc;

use super::Reader;
use super::lines::{Char, Instruction};
use super::words::{split_pair, split_raw, text};
use crate::input::foreign::image_path;
use crate::model::urunc;
use crate::model::value::Pos;
use crate::rules::suggest::did_you_mean;
use crate::rules::words::{Split, split_cmdline};

/// Every instruction bimanix knows, for suggestions.
const KNOWN: &[&str] = &[
    "FROM",
    "COPY",
    "ADD",
    "LABEL",
    "ENV",
    "ARG",
    "WORKDIR",
    "CMD",
    "ENTRYPOINT",
    "USER",
    "ARCH",
    "EXPOSE",
    "STOPSIGNAL",
    "MAINTAINER",
    "SHELL",
    "VOLUME",
    "RUN",
    "HEALTHCHECK",
    "ONBUILD",
];

/// What to do instead of an instruction that runs something.
const NO_ENGINE: &str = "bimanix runs no commands (it needs no container engine)";

impl Reader {
    /// One instruction of the last stage.
    pub(super) fn instruction(&mut self, ins: &Instruction, global: &dyn Fn(&str) -> Option<String>) {
        let kw = ins.keyword.as_str();
        match kw {
            "ARG" => {
                for (name, value) in self.declare_args(ins, global) {
                    match value {
                        Some(v) => Rc::make_mut(&mut self.image.args).insert(name, v),
                        None => Rc::make_mut(&mut self.image.args).remove(&name),
                    };
                }
            }
            "ENV" => self.env(ins),
            "LABEL" => self.label(ins),
            "COPY" => self.copy(ins, false),
            "ADD" => self.copy(ins, true),
            "CMD" | "ENTRYPOINT" => self.command(ins),
            "WORKDIR" => self.workdir(ins),
            "USER" => self.user(ins),
            "ARCH" => self.arch(ins),
            "EXPOSE" | "STOPSIGNAL" | "MAINTAINER" | "SHELL" => {
                let why = match kw {
                    "SHELL" => "bimanix runs no shell: the shell form of CMD and ENTRYPOINT is split into words",
                    "MAINTAINER" => "it is deprecated; write LABEL maintainer=... to keep the name",
                    _ => "bimanix images do not carry it (urunc boots the guest, which decides)",
                };
                self.warn(ins.pos, kw, format_args!("ignored: {why}"));
            }
            "VOLUME" => self.err(
                ins.pos,
                kw,
                "bimanix images declare no volumes; give them when running (docker run -v) or remove the line",
            ),
            "RUN" => self.err(
                ins.pos,
                kw,
                format_args!(
                    "{NO_ENGINE}: build the files beforehand (make, a script, a Nix derivation) and COPY them in, or \
                     build an image with docker and name its saved archive in FROM (--base)"
                ),
            ),
            "HEALTHCHECK" => self.err(
                ins.pos,
                kw,
                format_args!("{NO_ENGINE}, and a health check runs a command inside the container: remove it"),
            ),
            "ONBUILD" => self.err(
                ins.pos,
                kw,
                format_args!(
                    "{NO_ENGINE}: ONBUILD runs its instruction in a later docker build of an image FROM this one; \
                     remove it, or move the instruction to the Containerfile that builds on this image"
                ),
            ),
            _ => {
                let hint = match did_you_mean(kw, KNOWN) {
                    Some(s) => format!("did you mean {s}?"),
                    None => format!("bimanix reads {}", KNOWN.join(", ")),
                };
                self.err(ins.pos, kw, format_args!("unknown instruction; {hint}"));
            }
        }
    }

    /// `ARG NAME[=default] ...`: each name and its value (a `--build-arg`
    /// with a value wins over the default; a name declared before FROM keeps that value
    /// when redeclared without one).
    pub(super) fn declare_args(
        &mut self,
        ins: &Instruction,
        outer: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        let words = split_raw(&ins.args, self.escape);
        if words.is_empty() {
            self.err(ins.pos, "ARG", "write ARG NAME or ARG NAME=default");
        }
        for raw in words {
            let (name, default) = match split_pair(raw, self.escape) {
                Some((k, v)) => (text(k), Some(v)),
                None => (text(raw), None),
            };
            if !is_name(&name) {
                self.err(raw[0].1, "ARG", format_args!("{name:?} is not a variable name"));
                continue;
            }
            let default = match default {
                Some(v) => {
                    let vars = self.vars();
                    let lookup = |n: &str| vars(n).or_else(|| outer(n));
                    match super::words::word(v, self.escape, &lookup, &self.budget) {
                        Ok(v) => Some(v),
                        Err((pos, msg)) => {
                            self.err(pos, "ARG", msg);
                            continue;
                        }
                    }
                }
                None => outer(&name),
            };
            let value = match self.build_args.get(&name) {
                Some(given) => {
                    self.used_args.insert(name.clone());
                    given.clone().or(default)
                }
                None => default,
            };
            out.push((name, value));
        }
        out
    }

    /// `KEY=VALUE ...` pairs (or the old `KEY VALUE` form) of ENV and
    /// LABEL, expanded; the key's position with each.
    fn pairs(&mut self, ins: &Instruction) -> Vec<(String, String, Pos)> {
        let raw = split_raw(&ins.args, self.escape);
        let kw = ins.keyword.clone();
        if raw.is_empty() {
            self.err(ins.pos, &kw, "write KEY=VALUE (one or more)");
            return Vec::new();
        }
        let lookup = self.vars();
        let mut out = Vec::new();
        if split_pair(raw[0], self.escape).is_none() {
            if raw.len() < 2 {
                // As BuildKit, which says "LABEL must have two arguments".
                let key = text(raw[0]);
                self.err(
                    raw[0][0].1,
                    &kw,
                    format_args!("{key} has no value; write {kw} {key}=VALUE ({kw} {key}=\"\" for an empty one)"),
                );
                return Vec::new();
            }
            // The old form: the first word is the key, the rest the value.
            let start = raw[1..].first().map_or(ins.args.len(), |w| offset(&ins.args, w));
            let key = super::words::word(raw[0], self.escape, &lookup, &self.budget);
            let value = super::words::word(&ins.args[start..], self.escape, &lookup, &self.budget);
            match (key, value) {
                (Ok(k), Ok(v)) => out.push((k, v, raw[0][0].1)),
                (Err((pos, msg)), _) | (_, Err((pos, msg))) => self.err(pos, &kw, msg),
            }
            return out;
        }
        for word in raw {
            let Some((k, v)) = split_pair(word, self.escape) else {
                self.err(word[0].1, &kw, format_args!("{:?} is not KEY=VALUE", text(word)));
                continue;
            };
            match (
                super::words::word(k, self.escape, &lookup, &self.budget),
                super::words::word(v, self.escape, &lookup, &self.budget),
            ) {
                (Ok(k), Ok(v)) => out.push((k, v, word[0].1)),
                (Err((pos, msg)), _) | (_, Err((pos, msg))) => self.err(pos, &kw, msg),
            }
        }
        out
    }

    /// ENV: the image's Env, and variables for later lines. Messages about
    /// the Env point at the first ENV that sets one.
    fn env(&mut self, ins: &Instruction) {
        for (key, value, pos) in self.pairs(ins) {
            if key.is_empty() || key.contains('=') {
                self.err(pos, "ENV", format_args!("{key:?} is not a variable name"));
                continue;
            }
            let first_env = !self.loc.keys.contains_key("env") || self.loc.names.get("env").is_none_or(|n| n != "ENV");
            if first_env {
                self.set_at("env", "ENV", pos);
            }
            Rc::make_mut(&mut self.image.vars).insert(key.clone(), value.clone());
            match self.image.env_slots.get(&key) {
                Some(&slot) => self.image.env[slot].1 = value,
                None => {
                    self.image.env_slots.insert(key.clone(), self.image.env.len());
                    self.image.env.push((key, value));
                }
            }
        }
    }

    /// LABEL: urunc's keys become annotations (bima's `version` is
    /// `unikernelVersion`); an empty value unsets one; other keys are labels.
    fn label(&mut self, ins: &Instruction) {
        for (key, value, pos) in self.pairs(ins) {
            let Some(rest) = key.strip_prefix(urunc::PREFIX) else {
                // Where the label stood, for the checks of its key and value.
                self.loc.keys.insert(format!("labels.{key:?}"), pos);
                self.loc.names.insert(format!("labels.{key:?}"), format!("LABEL {key}"));
                self.image.labels.insert(key, value);
                continue;
            };
            let short = match rest {
                "version" => {
                    self.warn(
                        pos,
                        "LABEL",
                        format_args!("{key} is read as {}, the key urunc reads", urunc::full_key("unikernelVersion")),
                    );
                    "unikernelVersion"
                }
                s if urunc::KEYS.contains(&s) => s,
                s => {
                    let hint = match did_you_mean(s, urunc::KEYS) {
                        Some(k) => format!("did you mean {}?", urunc::full_key(k)),
                        None => format!("urunc reads {}", urunc::KEYS.join(", ")),
                    };
                    self.err(pos, "LABEL", format_args!("{key} is not a urunc annotation; {hint}"));
                    continue;
                }
            };
            self.loc.keys.insert(format!("annotations.{short}"), pos);
            if value.is_empty() {
                self.image.annotations.remove(short);
            } else {
                self.image.annotations.insert(short.to_string(), value);
            }
        }
    }

    /// CMD and ENTRYPOINT: the JSON form as written; the shell form split
    /// into words like a shell would, without running one.
    fn command(&mut self, ins: &Instruction) {
        let kw = ins.keyword.clone();
        let raw = text(&ins.args);
        let words = if raw.starts_with('[') {
            match serde_json::from_str::<Vec<String>>(&raw) {
                Ok(words) => words,
                Err(e) => {
                    self.err(ins.args[0].1, &kw, format_args!("the JSON form must be an array of strings: {e}"));
                    return;
                }
            }
        } else {
            match shell_form(&ins.args) {
                Ok(words) => words,
                Err((pos, msg)) => {
                    self.err(pos, &kw, msg);
                    return;
                }
            }
        };
        if kw == "CMD" {
            self.image.cmd = Some(words);
            self.set_at("cmd", "CMD", ins.pos);
        } else {
            self.image.entrypoint = Some(words);
            self.set_at("entrypoint", "ENTRYPOINT", ins.pos);
        }
    }

    fn workdir(&mut self, ins: &Instruction) {
        let lookup = self.vars();
        let dir = match super::words::word(&ins.args, self.escape, &lookup, &self.budget) {
            Ok(d) if !d.is_empty() => d,
            Ok(_) => return self.err(ins.pos, "WORKDIR", "write WORKDIR /path"),
            Err((pos, msg)) => return self.err(pos, "WORKDIR", msg),
        };
        let base = self.image.working_dir.clone().unwrap_or_else(|| "/".into());
        self.image.working_dir = Some(image_path(&base, &dir));
        self.set_at("workingDir", "WORKDIR", ins.args[0].1);
    }

    fn user(&mut self, ins: &Instruction) {
        let user = text(&ins.args);
        if ["root", "0", "root:root", "0:0", "root:0", "0:root"].contains(&user.as_str()) {
            return;
        }
        let why = if user.split(':').all(|p| p.chars().all(|c| c.is_ascii_digit())) {
            "bimanix images run as root: urunc boots the guest, which picks its own users".to_string()
        } else {
            format!("{NO_ENGINE}, and a user name is looked up in the image's /etc/passwd by one")
        };
        self.err(ins.pos, "USER", format_args!("{user}: {why}; remove USER (or write USER 0)"));
    }

    /// bima's `ARCH <arch>`: the image architecture.
    fn arch(&mut self, ins: &Instruction) {
        let arch = text(&ins.args);
        if arch.is_empty() || arch.contains(char::is_whitespace) {
            return self.err(ins.pos, "ARCH", "write ARCH <architecture>, e.g. ARCH amd64");
        }
        self.image.architecture = Some(crate::input::foreign::oci_arch(&arch));
        self.set_at("architecture", "ARCH", ins.args[0].1);
    }

    /// After the last instruction: without CMD or ENTRYPOINT, the rules
    /// split the cmdline annotation into Cmd like a shell. A cmdline with an
    /// unbalanced quote (as one of bunny's examples has) is read as if the
    /// quote closed at the end of the line, which is what its author meant;
    /// bunny splits it at spaces instead, which gives the guest arguments
    /// holding a stray `'`.
    pub(super) fn finish(&mut self) {
        let image = &mut self.image;
        if image.cmd.is_some() || image.entrypoint.is_some() {
            return;
        }
        let Some(line) = image.annotations.get("cmdline") else { return };
        if let Some(&pos) = self.loc.keys.get("annotations.cmdline") {
            self.loc.keys.insert("cmd".into(), pos);
            self.loc.names.insert("cmd".into(), format!("LABEL {}", urunc::full_key("cmdline")));
        }
        let (words, how) = split_cmdline(line);
        let message = match how {
            Split::Words => return,
            Split::QuoteClosed => {
                format!("the cmdline has an unbalanced quote; read as closed at the end of the line, Cmd is {words:?}")
            }
            Split::AtSpaces => {
                "the cmdline cannot be split into words, so Cmd is the cmdline split at spaces (as bunny does)"
                    .to_string()
            }
        };
        image.cmd = Some(words);
        let pos = self.loc.keys.get("annotations.cmdline").copied().unwrap_or(Pos { line: 1, col: 1 });
        self.warn(pos, "LABEL", &message);
    }
}

/// Where raw word `w` starts within `args`.
pub(super) fn offset(args: &[Char], w: &[Char]) -> usize {
    args.iter().position(|c| c.1 == w[0].1).unwrap_or(0)
}

/// A variable name as ARG takes it.
fn is_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The shell form of CMD or ENTRYPOINT as words. A shell would run the
/// line; a unikernel has none, so the line is split into words with
/// quotes honoured, and what only a shell can do (variables, pipes,
/// redirections, `;`, `&&`, command substitution) is refused.
fn shell_form(args: &[Char]) -> Result<Vec<String>, (Pos, String)> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for &(c, pos) in args {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), _) => {}
            (_, '\\') => escaped = true,
            (None, '\'' | '"') => quote = Some(c),
            (_, '$' | '`') | (None, '|' | '&' | ';' | '<' | '>' | '(' | ')') => {
                return Err((
                    pos,
                    format!(
                        "`{c}` needs a shell, and bimanix runs the command directly (the shell form is only split \
                         into words): write the JSON form, e.g. [\"/bin/sh\", \"-c\", \"...\"] for a guest that has a shell"
                    ),
                ));
            }
            _ => {}
        }
    }
    crate::rules::words::split(&text(args)).map_err(|e| (args.first().map_or(Pos { line: 1, col: 1 }, |c| c.1), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<Char> {
        s.chars().enumerate().map(|(i, c)| (c, Pos { line: 1, col: i as u32 + 1 })).collect()
    }

    #[test]
    fn the_shell_form_is_split_without_a_shell() {
        assert_eq!(shell_form(&chars("nginx -g 'daemon off;'")).unwrap(), ["nginx", "-g", "daemon off;"]);
        assert_eq!(shell_form(&chars(r#"a "b c" d\ e"#)).unwrap(), ["a", "b c", "d e"]);
        assert_eq!(shell_form(&chars("echo '$HOME'")).unwrap(), ["echo", "$HOME"]);
        for bad in ["a | b", "a && b", "a; b", "a > f", "echo $HOME", "echo \"$HOME\"", "x `y`", "a (b)"] {
            let (pos, msg) = shell_form(&chars(bad)).unwrap_err();
            assert!(msg.contains("needs a shell"), "{bad}: {msg}");
            assert!(pos.col > 1, "{bad}");
        }
        assert!(shell_form(&chars("'open")).is_err());
    }
}
