# Turns a source of image content into a store path string that carries
# its store context, so that the image derivation depends on it and on
# nothing else. A source is a host path (copied alone into the store), a
# derivation (its output), a store path string such as "${pkg}/bin/x", an
# absolute path string, or (when `root` is given: the directory of an args
# file) a relative path string, resolved against `root` as the CLI resolves
# it. `bimanix convert` writes such strings for names a path literal cannot
# spell ("./my kernel"). `what` names the argument in error messages.
{
  what,
  root ? null,
}:
source:
let
  type = builtins.typeOf source;
in
if type == "set" && (source.type or null) == "derivation" then
  "${source}"
else if type == "path" then
  import ./host-path.nix what source
else if type == "string" && builtins.hasContext source then
  source
else if type == "string" && builtins.substring 0 1 source == "/" then
  import ./host-path.nix what (/. + source)
else if type == "string" && source != "" && root != null then
  import ./host-path.nix what (root + "/${source}")
else if type == "string" then
  throw "${what}: \"${source}\" is a relative path in a string; write it as a Nix path (./file, no quotes) or make it absolute"
else
  throw "${what}: expected a path, a derivation or a store path string, not ${import ./describe.nix source}"
