# The programs of an image described in the store (`description`, written
# by `bimanix describe`, whose second output is `stream`): `stream` writes
# the image archive to standard output (`$(nix-build -A stream) | docker
# load`), and copyToRegistry, copyToDockerDaemon, copyToPodman and copyTo
# copy it, as nix2container names them
# (`nix run .#image.copyToRegistry -- REF --creds ...`). Each is a script
# whose `#!` line runs this bimanix (`bimanix launch`), so no shell and no
# nixpkgs are needed; it reads the layers from their store paths and
# checks each against its digest while it streams.
#
# They write the image alone: with `attached` (the image was asked for an
# SBOM or attestation, which only the archive derivation holds) each one
# throws, naming the archive and `bimanix push` instead of silently
# leaving the documents out.
{ program, system }:
{
  description,
  what ? "image",
  attached ? false,
}:
let
  copy =
    name:
    derivation {
      inherit name system;
      builder = program;
      args = [
        "launcher"
        "--run"
        name
        "--image"
        description.out
        "-o"
        (placeholder "out")
      ];
    }
    // {
      meta.mainProgram = name;
    };
  programs = {
    inherit (description) stream;
    copyToRegistry = copy "copyToRegistry";
    copyToDockerDaemon = copy "copyToDockerDaemon";
    copyToPodman = copy "copyToPodman";
    copyTo = copy "copyTo";
  };
  refuse =
    name: _:
    throw "${what}: ${name} writes the image without its SBOM and attestation (sbom/provenance are kept only in the archive derivation); build the archive (nix-build) and push it with `bimanix push result REFERENCE`, which pushes the documents too";
in
if attached then builtins.mapAttrs refuse programs else programs
