# The description derivation of an image: `bimanix describe` with `args`
# (its command line up to the output), as the builder, no shell. Its `out`
# is the description (the top layer, config, manifest and the layers' store
# paths) and its `stream` output the program that writes the archive in
# `format` (docker-archive or oci-archive), so that a change to the image
# rebuilds this one derivation. `env` adds environment variables (the
# passAsFile arguments).
{ program, system }:
{
  baseName,
  args,
  format,
  env ? { },
}:
derivation (
  {
    name = baseName + "-description";
    outputs = [
      "out"
      "stream"
    ];
    inherit system;
    builder = program;
    args = args ++ [
      "--stream"
      (placeholder "stream")
      "--stream-format"
      (if format == "oci-archive" then format else "docker-archive")
    ];
  }
  // env
)
