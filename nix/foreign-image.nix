# The image derivation for another tool's file (a Containerfile or a
# bunnyfile). The build context directory goes into the store as it is,
# and the bimanix builder reads the file there:
#   bimanix build --input-format KIND <context>/<file> -t NAME:TAG
#     --base REFERENCE=<archive> ... --build-arg NAME=VALUE ... -o $out
# so the result is byte for byte what that command line writes from the
# same directory. `bases` maps image references (as FROM or `from:` write
# them) to image archives: paths, derivations such as
# dockerTools.pullImage's, or store path strings. `what` names the caller
# in messages; `kind` is containerfile or bunnyfile; `defaultFile` the
# file name looked for in the context.
{ program, system }:
{
  what,
  kind,
  defaultFile,
}:
{
  context,
  file ? defaultFile,
  name,
  tag ? "latest",
  bases ? { },
  buildArgs ? { },
  format ? null,
  pairCheck ? true,
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
    "${reference}=${import ./source.nix "${what}: bases.\"${reference}\"" bases.${reference}}"
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
  suffix = if format == "oci-layout" then "" else ".tar";
in
if !isString name || name == "" then
  fail "`name` must be a non-empty string such as \"hello\", not ${describe name}"
else if !isString tag || tag == "" then
  fail "`tag` must be a non-empty string, not ${describe tag}"
else if !isString file then
  fail "`file` must be a file name in `context`, not ${describe file}"
else if !isAttrs bases || !isAttrs buildArgs then
  fail "`bases` and `buildArgs` must be attribute sets"
else if !(format == null || builtins.elem format formats) then
  fail "format must be one of ${builtins.concatStringsSep ", " formats}, not ${builtins.toJSON format}"
else if !builtins.isBool pairCheck then
  fail "pairCheck must be true or false"
else
  derivation {
    name = import ./store-name.nix (builtins.replaceStrings [ "/" ] [ "-" ] name + "-${tag}") + suffix;
    inherit system;
    builder = program;
    args = [
      "build"
      "--input-format"
      kind
      "${contextPath}/${file}"
      "--tag"
      "${name}:${tag}"
    ]
    ++ baseArgs
    ++ buildArgArgs
    ++ [
      "-o"
      (placeholder "out")
    ]
    ++ (if format == null then [ ] else [ "--format" format ])
    ++ (if pairCheck then [ ] else [ "--no-pair-check" ]);
  }
  // {
    imageName = name;
    imageTag = tag;
  }
