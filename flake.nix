{
  description = "Package unikernels and Linux kernels as container images for urunc";

  inputs.nixpkgs.url = "github:nixos/nixpkgs/nixos-26.05";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      eachSystem =
        f:
        builtins.listToAttrs (
          map (system: {
            name = system;
            value = f system nixpkgs.legacyPackages.${system};
          }) systems
        );
    in
    {
      overlays.default = import ./nix/overlay.nix;

      lib = eachSystem (system: _: import ./nix/lib.nix { inherit (self.packages.${system}) bimanix; });

      packages = eachSystem (
        system: pkgs: {
          bimanix = pkgs.callPackage ./nix/package.nix {
            # 12 hex digits, as build.rs takes them from git; a dirty tree's too.
            commit = builtins.substring 0 12 (self.rev or self.dirtyRev or "");
          };
          default = self.packages.${system}.bimanix;
          image = self.lib.${system}.fromArgsFile { file = ./args.nix; };
        }
      );

      checks = eachSystem (
        system: pkgs:
        import ./nix/checks.nix {
          inherit pkgs;
          src = self;
          inherit (self.packages.${system}) bimanix image;
        }
      );

      apps = eachSystem (
        system: _: {
          default = {
            type = "app";
            program = "${self.packages.${system}.bimanix}/bin/bimanix";
            meta.description = "Run bimanix";
          };
        }
      );

      formatter = eachSystem (_: pkgs: pkgs.nixfmt-tree);

      devShells = eachSystem (
        system: pkgs: {
          default = pkgs.mkShell {
            inputsFrom = [ self.packages.${system}.bimanix ];
            packages = [
              pkgs.clippy
              pkgs.rustfmt
              pkgs.skopeo
            ];
          };
        }
      );
    };
}
