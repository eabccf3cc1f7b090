# A nixpkgs overlay: pkgs.bimanix, pkgs.mkUruncImage, pkgs.mkUruncIndex,
# pkgs.fromContainerfile and pkgs.fromBunnyfile. Images are built by the
# bimanix of the build platform, so cross package sets work too.
final: prev: {
  bimanix = final.callPackage ./package.nix { };
  inherit (import ./lib.nix { bimanix = final.buildPackages.bimanix; })
    mkUruncImage
    mkUruncIndex
    fromContainerfile
    fromBunnyfile
    ;
}
