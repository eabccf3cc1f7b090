# Copies one file or directory from the host into the store, alone, and
# returns its store path. `what` names the argument in error messages.
#
# Nix copies a symbolic link as a link (pointing back at the host), and it
# has no builtin to read where a link points, so a link given directly is
# refused with a hint rather than silently making the build impure. Links
# inside a copied directory are kept as links, as the CLI keeps them.
what: path:
let
  name = baseNameOf path;
  type = (builtins.readDir (dirOf path)).${name} or "missing";
in
if !builtins.pathExists path then
  # A near name next to it, as the CLI suggests one.
  throw "${what}: ${toString path} does not exist${
    if builtins.pathExists (dirOf path) then import ./suggest.nix name (builtins.attrNames (builtins.readDir (dirOf path))) else ""
  }"
else if type == "symlink" then
  throw "${what}: ${toString path} is a symbolic link, which Nix would copy as a link; give the path it points to (readlink -f ${toString path}) or, from Nix, the derivation that built it"
else
  builtins.path {
    inherit path;
    name = import ./store-name.nix name;
  }
