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
# `sbom` ("cyclonedx") and `provenance` (true) attach an SBOM and a build
# attestation (--sbom, --provenance; the format then defaults to
# oci-archive), `flake` (the flake's `self`) fills the revision label and
# `created` (see flake-metadata.nix).
#
# Besides the archive, the result carries the image as the store keeps it
# best (none of these builds the archive): `layers`, a derivation per
# artifact layer (layers.nix); `description`, the small rest of the image
# (`bimanix describe`: the same checks and plan as the build, the top
# layer, config and manifest, the layers named by store path); and the
# programs of programs.nix: `stream`, copyToRegistry, copyToDockerDaemon,
# copyToPodman, copyTo. These carry no SBOM or attestation, so with `sbom`
# or `provenance` the programs refuse (see programs.nix).
{ program, system }:
{
  what,
  root ? null,
  format ? null,
  pairCheck ? true,
  sbom ? null,
  provenance ? false,
  flake ? null,
}:
args:
let
  json = import ./image-args.nix { inherit what root; } (
    args // import ./flake-metadata.nix { inherit what; } flake args
  );
  positions = import ./positions.nix args;
  # The arguments as both builders read them, with their positions.
  argsJson = builtins.toJSON (json // (if positions == null then { } else { __positions = positions; }));
  attach = sbom != null || provenance;
  # Documents go beside the image in an OCI layout; a docker-archive has no room.
  format' = if format == null && attach then "oci-archive" else format;
  # The derivations of the sources given as derivations (list-form files,
  # fromImage), so the SBOM and attestation can name them.
  sources =
    (if builtins.isList (args.files or null) then map (f: f.source or null) args.files else [ ])
    ++ [ (args.fromImage or null) ];
  derivers = builtins.listToAttrs (
    map (d: {
      name = builtins.unsafeDiscardStringContext d.outPath;
      value = builtins.unsafeDiscardStringContext d.drvPath;
    }) (builtins.filter (s: builtins.isAttrs s && (s.type or null) == "derivation") sources)
  );
  formats = [
    "docker-archive"
    "oci-archive"
    "oci-layout"
  ];
  # oci-layout is a directory; the archives are single tar files.
  suffix = if format' == "oci-layout" then "" else ".tar";
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
  programs = import ./programs.nix { inherit program system; } {
    inherit description what;
    attached = attach;
  };
in
if !(format == null || builtins.elem format formats) then
  throw "${what}: format must be one of ${builtins.concatStringsSep ", " formats}, not ${builtins.toJSON format}"
else if !builtins.isBool pairCheck then
  throw "${what}: pairCheck must be true or false"
else if !(sbom == null || sbom == "cyclonedx") then
  throw "${what}: sbom must be \"cyclonedx\" (or null for none), not ${builtins.toJSON sbom}"
else if !builtins.isBool provenance then
  throw "${what}: provenance must be true or false"
else if attach && format == "docker-archive" then
  throw "${what}: sbom and provenance attach documents beside the image, which a docker-archive cannot carry; use format = \"oci-archive\" or \"oci-layout\""
else
  derivation (
    {
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
      ++ (if format' == null then [ ] else [ "--format" format' ])
      ++ pairFlag
      ++ (if sbom == null then [ ] else [ "--sbom" sbom ])
      ++ (if provenance then [ "--provenance" ] else [ ]);
      passAsFile = [ "bimanixArgs" ] ++ (if attach then [ "bimanixDerivers" ] else [ ]);
      bimanixArgs = argsJson;
    }
    # Only with documents, so the derivation of an image without them is unchanged.
    // (if attach then { bimanixDerivers = builtins.toJSON derivers; } else { })
  )
  // programs
  // {
    imageName = json.name;
    imageTag = json.tag;
    # Whether the archive carries an SBOM or attestation (mkUruncIndex reads it).
    attached = attach;
    inherit layers description;
  }
