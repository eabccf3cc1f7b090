# The image derivation. The bimanix program itself is the builder: no
# stdenv, no shell. It gets its arguments as one JSON file (passAsFile;
# an attribute set cannot be an environment variable) and writes the
# archive straight to $out. Its inputs are the program and the image's
# sources, nothing else, so an image rebuilds only when one of them
# changes, or when the arguments move to other lines of their file: it
# also gets where each key was written (nix/positions.nix), so that its
# errors name the args file's line and column. `options` are the Nix-only settings: `what` names the caller in
# error messages, `root` is the directory relative `files` keys are
# relative to, `format` and `pairCheck` are the CLI's --format and
# --no-pair-check.
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
  formats = [
    "docker-archive"
    "oci-archive"
    "oci-layout"
  ];
  # oci-layout is a directory; the archives are single tar files.
  suffix = if format == "oci-layout" then "" else ".tar";
  baseName = import ./store-name.nix "${json.name}-${json.tag}";
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
    ++ [
      "--positions-from-env"
      "bimanixPositionsPath"
    ]
    ++ (if format == null then [ ] else [ "--format" format ])
    ++ (if pairCheck then [ ] else [ "--no-pair-check" ]);
    passAsFile = [
      "bimanixArgs"
      "bimanixPositions"
    ];
    bimanixArgs = builtins.toJSON json;
    # Where each key was written, so that the build's errors name it.
    bimanixPositions = builtins.toJSON (import ./positions.nix args);
  }
  // {
    imageName = json.name;
    imageTag = json.tag;
  }
