# The metadata a flake's own source gives an image (mkUruncImage's and
# fromArgsFile's `flake = self;`): the label
# org.opencontainers.image.revision from the flake's `rev` (`dirtyRev`,
# which ends in "-dirty", on a tree with uncommitted changes; none when
# neither is known) and `created` from its `lastModifiedDate`, each unless
# the arguments set it. Both are fixed by the commit, so the image stays
# reproducible. Returns the arguments to merge over the image's.
{ what }:
flake: args:
let
  describe = import ./describe.nix;
  date =
    flake.lastModifiedDate
      or (throw "${what}: `flake` must be the flake's `self` (with lastModifiedDate), not ${describe flake}");
  part = start: length: builtins.substring start length date;
  created = "${part 0 4}-${part 4 2}-${part 6 2}T${part 8 2}:${part 10 2}:${part 12 2}Z";
  rev = flake.rev or flake.dirtyRev or null;
  given = if (args.labels or null) == null then { } else args.labels;
  revision = if rev == null then { } else { "org.opencontainers.image.revision" = rev; };
in
if flake == null then
  { }
else if !builtins.isAttrs flake then
  throw "${what}: `flake` must be the flake's `self`, not ${describe flake}"
else
  {
    labels = revision // given;
    created = if (args.created or null) == null then created else args.created;
  }
