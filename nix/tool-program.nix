# The bimanix program as a store path string, to be an image derivation's
# `builder`. `tool` is the bimanix package (a derivation), a store path
# string of the program itself (such as "${pkg}/bin/bimanix"), or a host
# path to the program or to a directory holding bin/bimanix (an unpacked
# release, a `result` link). A host program is copied alone into the store,
# so images depend on that one file: this is the air-gapped mode, where
# nothing is fetched and no nixpkgs is evaluated.
tool:
let
  type = builtins.typeOf tool;
  fromHost =
    path:
    let
      inDirectory = path + "/bin/bimanix";
    in
    import ./host-path.nix "tool" (if builtins.pathExists inDirectory then inDirectory else path);
in
if type == "set" && (tool.type or null) == "derivation" then
  "${tool}/bin/bimanix"
else if type == "path" then
  fromHost tool
else if type == "string" && builtins.hasContext tool then
  tool
else if type == "string" && builtins.substring 0 1 tool == "/" then
  fromHost (/. + tool)
else
  throw "tool: expected the bimanix package, or a path to the bimanix program or to a directory with bin/bimanix (--arg tool /path/to/bimanix); got ${
    if type == "string" then "the relative path string \"${tool}\"" else import ./describe.nix tool
  }"
