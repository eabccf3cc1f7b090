# The image derivation. The bimanix program itself is the builder: no
# stdenv, no shell. It gets its arguments as one JSON file (passAsFile;
# an attribute set cannot be an environment variable) and writes the
# archive straight to $out. Its inputs are the program and the image's
# sources, nothing else, so an image rebuilds only when one of them
# changes, or when the arguments move to other lines of their file: its
# arguments carry where each key was written (nix/positions.nix), so that
# its errors, and the description's, name the args file's line and column.
# `options` are the Nix-only settings: `what` names the caller in error
# messages, `root` is the directory relative `files` keys are relative to,
# `format` and `pairCheck` are the CLI's --format and --no-pair-check.
#
# Besides the archive, the result carries the image as the store keeps it
# best (none of these builds the archive): `layers`, a derivation per
# artifact layer (layers.nix); `description`, the small rest of the image
# (`bimanix describe`: the same checks and plan as the build, the top
# layer, config and manifest, the layers named by store path); and the
# programs of programs.nix: `stream`, copyToRegistry, copyToDockerDaemon,
# copyToPodman, copyTo.
{ program, system }:
{
  what,
  root ? null,
  format ? null,
  pairCheck ? true,
}:
args:
let
  json = import ./image-args.nix { inherit what root; } args;
  positions = import ./positions.nix args;
  # The arguments as both builders read them, with their positions.
  argsJson = builtins.toJSON (json // (if positions == null then { } else { __positions = positions; }));
  formats = [
    "docker-archive"
    "oci-archive"
    "oci-layout"
  ];
  # oci-layout is a directory; the archives are single tar files.
  suffix = if format == "oci-layout" then "" else ".tar";
  baseName = import ./store-name.nix "${json.name}-${json.tag}";
  pairFlag = if pairCheck then [ ] else [ "--no-pair-check" ];
  layers = import ./layers.nix { inherit program system; } json;
  description = import ./description.nix { inherit program system; } {
    inherit baseName format;
    args = [
      "describe"
      "--args-from-env"
      "bimanixArgsPath"
      "-o"
      (placeholder "out")
    ]
    ++ builtins.concatMap (layer: [
      "--parts"
      layer
    ]) layers
    ++ pairFlag;
    env = {
      passAsFile = [ "bimanixArgs" ];
      bimanixArgs = argsJson;
    };
  };
  programs = import ./programs.nix { inherit program system; } { inherit description; };
in
if !(format == null || builtins.elem format formats) then
  throw "${what}: format must be one of ${builtins.concatStringsSep ", " formats}, not ${builtins.toJSON format}"
else if !builtins.isBool pairCheck then
  throw "${what}: pairCheck must be true or false"
else
  derivation {
    name = baseName + suffix;
    inherit system;
    builder = program;
    args = [
      "build"
      "--args-from-env"
      "bimanixArgsPath"
      "-o"
      (placeholder "out")
    ]
    ++ (if format == null then [ ] else [ "--format" format ])
    ++ pairFlag;
    passAsFile = [ "bimanixArgs" ];
    bimanixArgs = argsJson;
  }
  // programs
  // {
    imageName = json.name;
    imageTag = json.tag;
    inherit layers description;
  }
