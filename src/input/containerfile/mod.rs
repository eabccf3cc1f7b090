//! The Containerfile (Dockerfile) reader: the files bima, pun and bunny's
//! Containerfile mode build, and the Docker subset that needs no container
//! engine, read into the input model.
//!
//! The text is split into instructions by `lines` and into words by
//! `words` as BuildKit does; `stages` settles the stages (`FROM ... AS
//! name`, global `ARG`s) and `instructions` turns the last stage into the
//! spec. `LABEL com.urunc.unikernel.<key>` sets urunc's annotations, other
//! labels stay labels. Instructions that would run something (`RUN`,
//! `HEALTHCHECK`, `ONBUILD`, `USER name`) are errors that say what to do
//! instead. Every problem is reported together, each at `file:line:col`.

mod copy;
mod instructions;
mod lines;
mod stages;
mod words;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::Result;

use super::foreign::{Bases, Options, Read};
use crate::imageread::Image;
use crate::model::diagnostic::{Diagnostic, Diagnostics, split_help};
use crate::model::fstree::Tree;
use crate::model::spec::{FileSpec, LayerMode, Locations, Spec};
use crate::model::urunc;
use crate::model::value::Pos;

/// Reads the Containerfile at `path`. Relative sources resolve against
/// `context`, the build context (default: the file's directory).
pub fn read(path: &Path, context: Option<&Path>, opts: &Options) -> Result<Read> {
    let file = super::foreign::read_file(path, context)?;
    read_text(&file.text, &file.shown, &file.context, opts)
}

/// Reads Containerfile text named `shown`, with `context` the directory
/// sources are relative to.
pub fn read_text(text: &str, shown: &str, context: &Path, opts: &Options) -> Result<Read> {
    let parsed = lines::parse(text).map_err(|(pos, msg)| Diagnostics(vec![Diagnostic::new(shown, Some(pos), msg)]))?;
    let mut warnings = Vec::new();
    let (name, tag) = super::foreign::name_and_tag(opts, context, &mut warnings);
    let mut r = Reader {
        context: context.to_path_buf(),
        escape: parsed.escape,
        bases: Bases::new(opts),
        build_args: opts.build_args.iter().cloned().collect(),
        used_args: BTreeSet::new(),
        errors: Vec::new(),
        warnings,
        listings: BTreeMap::new(),
        stages: Vec::new(),
        stage_names: BTreeMap::new(),
        image: Building::default(),
        loc: Locations { file: shown.to_string(), ..Locations::default() },
        budget: words::Budget::new(words::EXPANSION_LIMIT),
    };
    r.name_keys();
    r.run(&parsed.instructions);
    for (arg, value) in &opts.build_args {
        if !r.used_args.contains(arg) {
            r.warnings.push(format!("--build-arg {arg}: no ARG {arg} in {shown}"));
        } else if value.is_none() {
            r.warnings.push(format!(
                "--build-arg {arg}: no value given and no environment variable {arg}, so the ARG default applies \
                 (as with docker build)"
            ));
        }
    }
    r.warnings.extend(r.bases.unused());
    Diagnostics(std::mem::take(&mut r.errors)).into_result()?;
    let warnings = std::mem::take(&mut r.warnings);
    Ok(Read { spec: r.spec(name, tag), warnings })
}

/// An error opening an image, saying how a Containerfile picks one image of
/// a multi-platform archive.
fn image_error(archive: &Path, e: &anyhow::Error) -> String {
    match crate::imageread::several_images(e) {
        Some(several) => format!(
            "cannot read image {}: the archive holds several images: {}; choose one with --platform on the FROM \
             that names it (FROM --platform=linux/arm64 <image> AS <name>), or with ARCH <arch> for the image",
            archive.display(),
            several.images
        ),
        None => format!("{e:#}"),
    }
}

/// Where a stage's filesystem comes from.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    /// `FROM scratch`: nothing.
    Scratch,
    /// An image archive or OCI layout, with the architecture its stage's
    /// `FROM --platform` chose and where that flag stands.
    Archive(PathBuf, Option<(String, Pos)>),
}

/// A stage before the last one, which `COPY --from` and `FROM` may name.
#[derive(Debug)]
struct Stage {
    name: Option<String>,
    source: Source,
    /// The architecture `--platform` chose and where, whatever the source
    /// (`FROM --platform=linux/arm64 scratch` sets it too).
    platform: Option<(String, Pos)>,
}

/// What the last stage has set so far.
#[derive(Debug, Default)]
struct Building {
    from: Option<PathBuf>,
    files: Vec<FileSpec>,
    annotations: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    env: Vec<(String, String)>,
    /// Where each variable of `env` sits in it.
    env_slots: BTreeMap<String, usize>,
    /// Variables for expansion: the base image's Env, then ENV. Shared
    /// with the lookups taken while an instruction is read, so that taking
    /// one costs no copy.
    vars: Rc<BTreeMap<String, String>>,
    /// ARG values declared in this stage (shared likewise).
    args: Rc<BTreeMap<String, String>>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    working_dir: Option<String>,
    architecture: Option<String>,
}

struct Reader {
    context: PathBuf,
    escape: char,
    bases: Bases,
    /// `--build-arg` values; `None` for a name given alone that the
    /// environment does not set.
    build_args: BTreeMap<String, Option<String>>,
    used_args: BTreeSet<String>,
    errors: Vec<Diagnostic>,
    warnings: Vec<String>,
    /// Listings of images that `COPY --from` reads, by archive and the
    /// architecture chosen in it.
    listings: BTreeMap<(PathBuf, Option<String>), Result<Tree, String>>,
    stages: Vec<Stage>,
    /// The index in `stages` of each named stage, so that a file of many
    /// stages is read in linear time.
    stage_names: BTreeMap<String, usize>,
    image: Building,
    loc: Locations,
    /// What variable expansion may still produce in this file.
    budget: words::Budget,
}

impl Reader {
    fn err(&mut self, pos: Pos, what: &str, msg: impl std::fmt::Display) {
        let (msg, help) = split_help(&msg.to_string());
        self.errors.push(Diagnostic::new(&self.loc.file, Some(pos), format_args!("{what}: {msg}")).help(help));
    }

    fn warn(&mut self, pos: Pos, what: &str, msg: impl std::fmt::Display) {
        self.warnings.push(format!("{}:{pos}: {what}: {msg}", self.loc.file));
    }

    /// Records that the instruction `name` at `pos` set the spec's `key`,
    /// for validation messages.
    fn set_at(&mut self, key: &str, name: &str, pos: Pos) {
        self.loc.keys.insert(key.to_string(), pos);
        self.loc.names.insert(key.to_string(), name.to_string());
    }

    /// How validation messages name the keys a Containerfile sets.
    fn name_keys(&mut self) {
        let names = &mut self.loc.names;
        for key in urunc::KEYS {
            names.insert(format!("annotations.{key}"), format!("LABEL {}", urunc::full_key(key)));
        }
        names.insert("annotations".into(), format!("LABEL {}*", urunc::PREFIX));
        for (key, name) in [
            ("name", "--tag"),
            ("tag", "--tag"),
            ("fromImage", "FROM"),
            ("workingDir", "WORKDIR"),
            ("architecture", "ARCH"),
            ("cmd", "CMD"),
            ("entrypoint", "ENTRYPOINT"),
            ("env", "ENV"),
        ] {
            names.insert(key.into(), name.into());
        }
    }

    /// The value of a variable for expansion in the last stage (ENV and the
    /// base image's Env win over ARG), as an owned closure, for use while
    /// `self` changes.
    fn vars(&self) -> impl Fn(&str) -> Option<String> + 'static {
        let (vars, args) = (Rc::clone(&self.image.vars), Rc::clone(&self.image.args));
        move |name: &str| vars.get(name).or_else(|| args.get(name)).cloned()
    }

    /// The listing of an image archive, read once: the image for
    /// `architecture` (a stage's `FROM --platform`), else for the image's
    /// own architecture.
    fn listing(&mut self, archive: &Path, architecture: Option<&str>) -> Result<&Tree, String> {
        let arch = architecture.map(str::to_string).or_else(|| self.image.architecture.clone());
        let key = (archive.to_path_buf(), arch);
        if !self.listings.contains_key(&key) {
            let listing = Image::open_for(archive, key.1.as_deref())
                .and_then(|image| image.listing())
                .map_err(|e| image_error(archive, &e));
            self.listings.insert(key.clone(), listing);
        }
        self.listings[&key].as_ref().map_err(Clone::clone)
    }

    fn spec(self, name: String, tag: String) -> Spec {
        let i = self.image;
        Spec {
            name,
            tag,
            files: i.files,
            annotations: i.annotations,
            entrypoint: i.entrypoint,
            cmd: i.cmd,
            env: i.env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            working_dir: i.working_dir,
            labels: i.labels,
            architecture: i.architecture,
            created: None,
            rootfs: None,
            from_image: i.from,
            urunc: None,
            layers: LayerMode::default(),
            compression: None,
            locations: self.loc,
        }
    }
}
