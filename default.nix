# nix-build entry point: the image described by ./args.nix.
#
#   nix-build                                  # ./args.nix, bimanix built from pinned nixpkgs
#   nix-build --arg args ./other/args.nix      # another args file (or a .json one)
#   nix-build --arg tool /path/to/bimanix      # a prebuilt bimanix: nothing fetched, no nixpkgs
#   docker load < result
#
# `format` ("docker-archive", "oci-archive", "oci-layout") and `pairCheck`
# are the CLI's --format and --no-pair-check.
{
  args ? ./args.nix,
  tool ? null,
  format ? null,
  pairCheck ? true,
  system ? builtins.currentSystem,
}:
let
  pinned = import (import ./nix/nixpkgs.nix) {
    inherit system;
    config = { };
    overlays = [ ];
  };
  bimanix = if tool != null then tool else pinned.callPackage ./nix/package.nix { };
  lib = import ./nix/lib.nix { inherit bimanix system; };
in
lib.fromArgsFile {
  file = args;
  inherit format pairCheck;
}
