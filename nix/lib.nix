# The Nix side of bimanix, for a given bimanix program:
#   import ./nix/lib.nix { bimanix = <package, or path to the program>; }
# gives mkUruncImage (image from Nix values), mkUruncIndex (one
# multi-platform index of several images), fromArgsFile (image from an
# args.nix or .json file), fromContainerfile and fromBunnyfile (image from
# another tool's file and its build context). `system` is where images are
# built; it defaults to the package's system, or the current one for a host
# path.
{
  bimanix,
  system ? null,
}:
let
  program = import ./tool-program.nix bimanix;
  buildSystem =
    if system != null then
      system
    else if builtins.isAttrs bimanix && (bimanix.type or null) == "derivation" then
      bimanix.system
    else
      builtins.currentSystem;
  image = import ./image.nix {
    inherit program;
    system = buildSystem;
  };
  # The arguments of mkUruncImage that are not args.nix fields.
  options = {
    root = null;
    format = null;
    pairCheck = true;
    sbom = null;
    provenance = false;
    flake = null;
  };
in
{
  # mkUruncImage { name; tag; files; annotations; ... }: every args.nix field,
  # plus `root` (the directory relative `files` keys are relative to),
  # `format`, `pairCheck`, `sbom` ("cyclonedx"), `provenance` (true) and
  # `flake` (the flake's `self`: its rev and lastModified become the
  # revision label and `created`). `files` may also be a list of
  # { source; target; mode ? null; } whose source is a path, a derivation
  # or a store path string.
  mkUruncImage =
    args:
    if builtins.isAttrs args then
      image ({ what = "mkUruncImage"; } // builtins.intersectAttrs options args) (
        removeAttrs args (builtins.attrNames options)
      )
    else
      throw "mkUruncImage: expected an attribute set { name; tag; files; annotations; ... }, not ${import ./describe.nix args}";

  # mkUruncIndex { name; tag ? "latest"; images; format ? "oci-archive"; }:
  # one multi-platform image index of `images` (mkUruncImage results, or
  # image archives), all of one name, one per platform.
  mkUruncIndex = import ./index.nix {
    inherit program;
    system = buildSystem;
  };

  # fromArgsFile { file = ./args.nix; format ? null; pairCheck ? true;
  #                sbom ? null; provenance ? false; flake ? null; }:
  # the image an args file describes, its `files` relative to its directory.
  fromArgsFile =
    {
      file,
      format ? null,
      pairCheck ? true,
      sbom ? null,
      provenance ? false,
      flake ? null,
    }:
    let
      read = import ./read-args-file.nix file;
    in
    image {
      what = toString read.path;
      root = dirOf read.path;
      inherit
        format
        pairCheck
        sbom
        provenance
        flake
        ;
    } read.args;

  # fromContainerfile { context = ./.; file ? "Containerfile"; name; tag ? "latest"; bases ? { }; buildArgs ? { }; ... }
  fromContainerfile = import ./from-containerfile.nix {
    inherit program;
    system = buildSystem;
  };

  # fromBunnyfile { context = ./.; file ? "bunnyfile"; name; tag ? "latest"; bases ? { }; ... }
  fromBunnyfile = import ./from-bunnyfile.nix {
    inherit program;
    system = buildSystem;
  };
}
