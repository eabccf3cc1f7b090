# fromContainerfile { context = ./.; file ? "Containerfile"; name; tag ? "latest";
#                     bases ? { }; buildArgs ? { }; format ? null; pairCheck ? true;
#                     compression ? null; urunc ? null; layers ? null;
#                     sbom ? null; provenance ? false; }
# The image a Containerfile (bima's, pun's, bunny's or Docker's engine-free
# subset) describes, built by bimanix from the context directory in the
# store. `bases` gives an image archive for each reference FROM or
# COPY --from names, e.g. { "redis:alpine" = pkgs.dockerTools.pullImage { ... }; };
# `buildArgs` sets ARG values.
{ program, system }:
import ./foreign-image.nix { inherit program system; } {
  what = "fromContainerfile";
  kind = "containerfile";
  defaultFile = "Containerfile";
  allowBuildArgs = true;
}
