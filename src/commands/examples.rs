//! The examples each command's `--help` ends with.

/// `bimanix --help`.
pub const TOP: &str = "\
Examples:
  bimanix build args.nix -o hello.tar && docker load < hello.tar
  bimanix check Containerfile
  bimanix push hello.tar localhost:5000/hello:1.0
  bimanix completions bash > ~/.local/share/bash-completion/completions/bimanix

Run `bimanix COMMAND --help` for a command's options and examples.";

/// `bimanix build --help`.
pub const BUILD: &str = "\
Examples:
  bimanix build                              # ./args.nix into NAME-TAG.tar
  bimanix build args.nix -o - | docker load  # straight into docker
  bimanix build . -t hello:1.0               # the Containerfile or bunnyfile in .
  bimanix build -f bunnyfile ctx/ --platform linux/arm64
  bimanix build args.nix --format oci-layout -o hello-layout
  bimanix build args.nix --compression zstd --metadata-file build.json --digestfile digest";

/// `bimanix check --help`.
pub const CHECK: &str = "\
Examples:
  bimanix check                   # ./args.nix
  bimanix check Containerfile --urunc 0.6-main
  bimanix check . --platform linux/arm64";

/// `bimanix convert --help`.
pub const CONVERT: &str = "\
Examples:
  bimanix convert Containerfile                 # the args.nix, on standard output
  bimanix convert bunnyfile -o args.nix
  bimanix convert . -o ../args.nix --force      # paths relative to ../";

/// `bimanix inspect --help`.
pub const INSPECT: &str = "\
Examples:
  bimanix inspect hello.tar
  bimanix inspect hello.tar --json | jq .compatibility
  bimanix inspect multi.tar --platform linux/arm64 --urunc 0.5-0.8";

/// `bimanix index --help`.
pub const INDEX: &str = "\
Examples:
  bimanix index hello-amd64.tar hello-arm64.tar -o hello.tar
  bimanix index a.tar b.tar --format oci-layout --name registry.example/hello --tag 1.0 -o layout";

/// `bimanix push --help`.
pub const PUSH: &str = "\
Examples:
  bimanix push hello.tar localhost:5000/hello:1.0
  bimanix push hello.tar registry.example/team/hello:1.0 --creds me    # asks for the password
  printf %s \"$TOKEN\" | bimanix push hello.tar ghcr.io/me/hello --creds me --password-stdin
  bimanix push hello.tar 127.0.0.1:5000/hello --plain-http --digestfile digest
  bimanix push hello.tar ghcr.io/me/hello:1.2.3 ghcr.io/me/hello:latest ghcr.io/me/other:1.2.3
  bimanix push big.tar registry.example/team/app:2 --mount-from team/base --jobs 8 --chunk-size 16M";

/// `bimanix completions --help`.
pub const COMPLETIONS: &str = "\
Examples:
  bimanix completions bash > ~/.local/share/bash-completion/completions/bimanix
  bimanix completions zsh > ~/.zfunc/_bimanix        # with fpath+=(~/.zfunc)
  bimanix completions fish > ~/.config/fish/completions/bimanix.fish";

/// `bimanix manpage --help`.
pub const MANPAGE: &str = "\
Examples:
  bimanix manpage | man -l -
  bimanix manpage --dir ~/.local/share/man/man1";
