# The fields of an args file: an args.nix, evaluated by Nix, or a .json
# file with the same fields. `file` is a path or an absolute path string.
file:
let
  path =
    if builtins.typeOf file == "path" then
      file
    else if builtins.isString file && builtins.substring 0 1 file == "/" then
      /. + file
    else
      throw "args: expected a path such as ./args.nix (--arg args ./args.nix), not ${import ./describe.nix file}";
  isJSON = builtins.match ".*\\.json" (baseNameOf path) != null;
  value =
    if !builtins.pathExists path then
      throw "args: ${toString path} does not exist"
    else if isJSON then
      builtins.fromJSON (builtins.readFile path)
    else
      import path;
in
{
  inherit path;
  args = value;
}
