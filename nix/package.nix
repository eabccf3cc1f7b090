# The bimanix program, built from this repository with nixpkgs' Rust.
{
  lib,
  rustPlatform,
  cpio,
  e2fsprogs,
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
      ../src
      ../tests/cli.rs
      ../tests/formats.rs
      ../tests/push.rs
      # The integration tests' stand-in kernel.
      ../example/hello/hello.bzImage
    ];
  };
  cargoLock.lockFile = ../Cargo.lock;
  # The unit tests read back initrds with GNU cpio and block images with
  # e2fsck and debugfs; tests/cli.rs and tests/formats.rs need only
  # coreutils and sh.
  nativeCheckInputs = [
    cpio
    e2fsprogs
  ];

  meta = {
    description = "Package unikernels and Linux kernels as container images for urunc";
    mainProgram = "bimanix";
    platforms = lib.platforms.linux;
  };
}
