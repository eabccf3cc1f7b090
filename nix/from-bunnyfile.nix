# fromBunnyfile { context = ./.; file ? "bunnyfile"; name; tag ? "latest";
#                 bases ? { }; format ? null; pairCheck ? true;
#                 compression ? null; urunc ? null; layers ? null;
#                 sbom ? null; provenance ? false; }
# The image a bunnyfile (v0.1) describes, built by bimanix from the
# context directory in the store. `bases` gives an image archive for each
# reference a `from:` names (kernel, rootfs, include).
{ program, system }:
import ./foreign-image.nix { inherit program system; } {
  what = "fromBunnyfile";
  kind = "bunnyfile";
  defaultFile = "bunnyfile";
  allowBuildArgs = false;
}
