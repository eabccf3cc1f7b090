# The bimanix program, built from this repository with nixpkgs' Rust, with
# its manual pages and bash, zsh and fish completions (written by the
# program itself, as ripgrep's package does). `commit` names the source's
# commit in `bimanix --version`: the source copied into the store has no
# .git for build.rs to read.
{
  lib,
  stdenv,
  rustPlatform,
  cpio,
  e2fsprogs,
  commit ? null,
}:
let
  cargo = lib.importTOML ../Cargo.toml;
  inherit (lib.fileset) toSource unions;
in
rustPlatform.buildRustPackage {
  pname = cargo.package.name;
  version = cargo.package.version;

  # Only what cargo builds and tests with, so that editing the README or docs/, the
  # example or the shell test suites does not rebuild the program.
  src = toSource {
    root = ../.;
    fileset = unions [
      ../Cargo.toml
      ../Cargo.lock
      ../build.rs
      ../src
      ../tests/cli.rs
      ../tests/formats.rs
      ../tests/push.rs
      # The integration tests' stand-in kernel.
      ../example/hello/hello.bzImage
    ];
  };
  cargoLock.lockFile = ../Cargo.lock;
  env = lib.optionalAttrs (commit != null) { BIMANIX_COMMIT = commit; };
  # The unit tests read back initrds with GNU cpio and block images with
  # e2fsck and debugfs; tests/cli.rs and tests/formats.rs need only
  # coreutils and sh.
  nativeCheckInputs = [
    cpio
    e2fsprogs
  ];

  # Where the program runs on the build machine (not when cross-compiling).
  postInstall = lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    mkdir -p $out/share/man/man1 $out/share/bash-completion/completions \
      $out/share/zsh/site-functions $out/share/fish/vendor_completions.d
    $out/bin/bimanix manpage --dir $out/share/man/man1
    $out/bin/bimanix completions bash > $out/share/bash-completion/completions/bimanix
    $out/bin/bimanix completions zsh > $out/share/zsh/site-functions/_bimanix
    $out/bin/bimanix completions fish > $out/share/fish/vendor_completions.d/bimanix.fish
  '';

  meta = {
    description = "Package unikernels and Linux kernels as container images for urunc";
    mainProgram = "bimanix";
    platforms = lib.platforms.linux;
  };
}
