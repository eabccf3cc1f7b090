# What `nix flake check` builds: the program (its build runs `cargo test`),
# the example image, the same image built a second time and compared byte
# for byte, the image compared with what the CLI makes outside Nix, and
# `bimanix inspect` reading it.
{
  pkgs,
  src,
  bimanix,
  image,
}:
let
  # Same inputs, different derivation: Nix builds it again instead of reusing `image`.
  rebuilt = derivation (image.drvAttrs // { rebuild = "1"; });
in
{
  inherit bimanix image;

  image-reproducible = pkgs.runCommand "image-reproducible" { } ''
    cmp ${image} ${rebuilt}
    touch $out
  '';

  # stdenv sets SOURCE_DATE_EPOCH; the image builder runs without it.
  image-matches-cli = pkgs.runCommand "image-matches-cli" { } ''
    cp -r ${src} source
    chmod -R u+w source
    cd source
    env -u SOURCE_DATE_EPOCH ${bimanix}/bin/bimanix build args.nix -o cli.tar
    cmp cli.tar ${image}
    touch $out
  '';

  image-inspect = pkgs.runCommand "image-inspect" { } ''
    ${bimanix}/bin/bimanix inspect ${image} > $out
  '';
}
