# A valid store path name made from any string: characters Nix does not
# allow become "-", leading dots go, and an empty result becomes "source".
# Used to name copies of user files, whose names may hold spaces or colons,
# and images ("ghcr.io/me/hello-1.0" becomes "ghcr.io-me-hello-1.0").
string:
let
  pieces = builtins.split "[^A-Za-z0-9+._?=-]+" string;
  joined = builtins.concatStringsSep "-" (builtins.filter builtins.isString pieces);
  trimmed = builtins.head (builtins.match "[.]*(.*)" joined);
in
if trimmed == "" then "source" else builtins.substring 0 200 trimmed
