# The programs of an image described in the store (`description`, written
# by `bimanix describe`, whose second output is `stream`): `stream` writes
# the image archive to standard output (`$(nix-build -A stream) | docker
# load`), and copyToRegistry, copyToDockerDaemon, copyToPodman and copyTo
# copy it, as nix2container names them
# (`nix run .#image.copyToRegistry -- REF --creds ...`). Each is a script
# whose `#!` line runs this bimanix (`bimanix launch`), so no shell and no
# nixpkgs are needed; it reads the layers from their store paths and
# checks each against its digest while it streams.
{ program, system }:
{ description }:
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
in
{
  inherit (description) stream;
  copyToRegistry = copy "copyToRegistry";
  copyToDockerDaemon = copy "copyToDockerDaemon";
  copyToPodman = copy "copyToPodman";
  copyTo = copy "copyTo";
}
