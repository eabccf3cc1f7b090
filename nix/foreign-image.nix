# The image derivation for another tool's file (a Containerfile or a
# bunnyfile). The build context directory goes into the store as it is,
# and the bimanix builder reads the file there, with the context as the
# build context (as `docker build -f`):
#   bimanix build --input-format KIND -f <context>/<file> <context>
#     -t NAME:TAG --base REFERENCE=<archive> ... --build-arg NAME=VALUE ...
#     [--compression C] [--urunc V] [--layers L] [--sbom cyclonedx]
#     [--provenance] -o $out
# so the result is byte for byte what that command line writes from the
# same directory. `bases` maps image references (as FROM or `from:` write
# them) to image archives: paths, derivations such as
# dockerTools.pullImage's, or store path strings. `what` names the caller
# in messages; `kind` is containerfile or bunnyfile; `defaultFile` the
# file name looked for in the context; `buildArgs` is taken only when
# `allowBuildArgs` (a bunnyfile has no variables).
{ program, system }:
{
  what,
  kind,
  defaultFile,
  allowBuildArgs,
}:
args@{
  context,
  file ? defaultFile,
  name,
  tag ? "latest",
  bases ? { },
  buildArgs ? { },
  format ? null,
  pairCheck ? true,
  compression ? null,
  urunc ? null,
  layers ? null,
  sbom ? null,
  provenance ? false,
}:
let
  inherit (builtins) attrNames concatMap isAttrs isString typeOf;
  describe = import ./describe.nix;
  fail = message: throw "${what}: ${message}";
  contextType = typeOf context;
  # A host directory is copied whole; a derivation or store path is used as it is.
  contextPath =
    if contextType == "path" then
      if !builtins.pathExists (context + "/${file}") then
        fail "${toString context}/${file} does not exist; set `file` to the file's name in `context`"
      else
        builtins.path {
          path = context;
          name = "source";
        }
    else if contextType == "set" && (context.type or null) == "derivation" then
      "${context}"
    else if contextType == "string" && builtins.hasContext context then
      context
    else
      fail "`context` must be the build context directory as a path (./.), a derivation or a store path, not ${describe context}";
  formats = [
    "docker-archive"
    "oci-archive"
    "oci-layout"
  ];
  baseArgs = concatMap (reference: [
    "--base"
    "${reference}=${import ./source.nix { what = "${what}: bases.\"${reference}\""; } bases.${reference}}"
  ]) (attrNames bases);
  buildArgArgs = concatMap (
    arg:
    if isString buildArgs.${arg} then
      [
        "--build-arg"
        "${arg}=${buildArgs.${arg}}"
      ]
    else
      fail "buildArgs.${arg} must be a string, not ${describe buildArgs.${arg}}"
  ) (attrNames buildArgs);
  compressions = [
    "none"
    "gzip"
    "zstd"
  ];
  layerModes = [
    "auto"
    "single"
  ];
  # An optional flag: `--flag value` when `value` is not null.
  flag = name: value: if value == null then [ ] else [ "--${name}" value ];
  attach = sbom != null || provenance;
  # Documents go beside the image in an OCI layout; a docker-archive has no room.
  format' = if format == null && attach then "oci-archive" else format;
  suffix = if format' == "oci-layout" then "" else ".tar";
in
if !isString name || name == "" then
  fail "`name` must be a non-empty string such as \"hello\", not ${describe name}"
else if !isString tag || tag == "" then
  fail "`tag` must be a non-empty string, not ${describe tag}"
else if !isString file then
  fail "`file` must be a file name in `context`, not ${describe file}"
else if !allowBuildArgs && args ? buildArgs then
  fail "`buildArgs`: a bunnyfile has no ARG lines to set; buildArgs applies to fromContainerfile only"
else if !isAttrs bases || !isAttrs buildArgs then
  fail "`bases` and `buildArgs` must be attribute sets"
else if !(format == null || builtins.elem format formats) then
  fail "format must be one of ${builtins.concatStringsSep ", " formats}, not ${builtins.toJSON format}"
else if !builtins.isBool pairCheck then
  fail "pairCheck must be true or false"
else if !(compression == null || builtins.elem compression compressions) then
  fail "compression must be one of ${builtins.concatStringsSep ", " compressions}, not ${builtins.toJSON compression}"
else if !(layers == null || builtins.elem layers layerModes) then
  fail "layers must be one of ${builtins.concatStringsSep ", " layerModes}, not ${builtins.toJSON layers}"
else if !(sbom == null || sbom == "cyclonedx") then
  fail "sbom must be \"cyclonedx\" (or null for none), not ${builtins.toJSON sbom}"
else if !builtins.isBool provenance then
  fail "provenance must be true or false"
else if attach && format == "docker-archive" then
  fail "sbom and provenance attach documents beside the image, which a docker-archive cannot carry; use format = \"oci-archive\" or \"oci-layout\""
else if !(urunc == null || (isString urunc && urunc != "")) then
  fail "urunc must be a version string such as \"0.8\", \"0.5,0.8\" or \"0.6-main\", not ${describe urunc}"
else
  let
    baseName = import ./store-name.nix "${name}-${tag}";
    # The command line of `verb` (build or describe), which read the input
    # alike; `formatFlag` only build takes.
    commandLine =
      verb: formatFlag:
      [
        verb
        "--input-format"
        kind
        "-f"
        "${contextPath}/${file}"
        contextPath
        "--tag"
        "${name}:${tag}"
      ]
      ++ baseArgs
      ++ buildArgArgs
      ++ [
        "-o"
        (placeholder "out")
      ]
      ++ formatFlag
      ++ flag "compression" compression
      ++ flag "urunc" urunc
      ++ flag "layers" layers
      ++ (if pairCheck then [ ] else [ "--no-pair-check" ]);
    # The image as the store keeps it (see image.nix); the files a
    # Containerfile or bunnyfile names are known only to bimanix, so the
    # description holds all the layers.
    description = import ./description.nix { inherit program system; } {
      inherit baseName format;
      args = commandLine "describe" [ ];
    };
    programs = import ./programs.nix { inherit program system; } {
      inherit description what;
      attached = attach;
    };
  in
  derivation {
    name = baseName + suffix;
    inherit system;
    builder = program;
    args = commandLine "build" (
      flag "format" format' ++ flag "sbom" sbom ++ (if provenance then [ "--provenance" ] else [ ])
    );
  }
  // programs
  // {
    imageName = name;
    imageTag = tag;
    # Whether the archive carries an SBOM or attestation (mkUruncIndex reads it).
    attached = attach;
    layers = [ ];
    inherit description;
  }
