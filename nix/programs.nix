# The programs of an image described in the store (`description`, written
# by `bimanix describe`): `stream` writes the image archive to standard
# output (`$(nix-build -A stream) | docker load`), and copyToRegistry,
# copyToDockerDaemon, copyToPodman and copyTo copy it, as nix2container
# names them (`nix run .#image.copyToRegistry -- REF --creds ...`). Each is
# a script whose `#!` line runs this bimanix (`bimanix launch`), so no
# shell and no nixpkgs are needed; it reads the layers from their store
# paths and checks each against its digest while it streams. `format` is
# the archive format `stream` writes.
{ program, system }:
{
  baseName,
  description,
  format,
}:
let
  launcher =
    name: run:
    derivation {
      inherit name system;
      builder = program;
      args = [
        "launcher"
        "--run"
        run
        "--image"
        description
        "--format"
        format
        "-o"
        (placeholder "out")
      ];
    };
  copy =
    name:
    launcher name name
    // {
      meta.mainProgram = name;
    };
in
{
  stream = launcher "${baseName}-stream" "stream";
  copyToRegistry = copy "copyToRegistry";
  copyToDockerDaemon = copy "copyToDockerDaemon";
  copyToPodman = copy "copyToPodman";
  copyTo = copy "copyTo";
}
