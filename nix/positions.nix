# Where the keys of an image's arguments were written, for the CLI in the
# image build (which sees only their JSON form) to name `file:line:col` in
# its errors as it does for an args.nix: { file; keys = { "<key path>" =
# [ line column ]; }; }, key paths as the CLI says them (`annotations.binary`,
# `files[0]`, `rootfs.size`), for the keys written in the file that holds
# `name` (JSON arguments have no positions: then `keys` is empty).
args:
let
  inherit (builtins)
    attrNames
    concatLists
    filter
    genList
    isAttrs
    isList
    length
    elemAt
    listToAttrs
    ;
  # A key as the CLI quotes it: plain when it is a word, else as a string.
  quote = key: if builtins.match "[A-Za-z0-9_-]+" key != null then key else builtins.toJSON key;
  pos = set: key: builtins.unsafeGetAttrPos key set;
  entry = path: p: { name = path; value = p; };
  attrsOf = value: if isAttrs value && (value.type or null) != "derivation" then value else { };
  # Every key of `set` under `prefix`.
  keysOf = prefix: set: map (key: entry "${prefix}${quote key}" (pos set key)) (attrNames (attrsOf set));
  shortKey =
    key:
    let
      short = builtins.match "com[.]urunc[.]unikernel[.](.*)" key;
    in
    if short == null then key else builtins.head short;
  # The entries of a `files` (attribute set or list) as the CLI numbers
  # them in the list form Nix hands it: attribute sets in name order.
  filesOf =
    prefix: files:
    if isList files then
      genList (i: entry "${prefix}[${toString i}]" (pos (attrsOf (elemAt files i)) "source")) (length files)
    else
      let
        names = attrNames (attrsOf files);
      in
      genList (i: entry "${prefix}[${toString i}]" (pos files (elemAt names i))) (length names);
  annotations = attrsOf (args.annotations or null);
  rootfs = attrsOf (args.rootfs or null);
  all = concatLists [
    (keysOf "" args)
    (map (key: entry "annotations.${shortKey key}" (pos annotations key)) (attrNames annotations))
    (keysOf "labels." (args.labels or null))
    (keysOf "env." (args.env or null))
    (keysOf "rootfs." rootfs)
    (filesOf "files" (args.files or [ ]))
    (filesOf "rootfs.files" (rootfs.files or [ ]))
  ];
  file = (pos (attrsOf args) "name").file or null;
  known = filter (e: e.value != null && e.value.file == file) all;
in
{
  file = if file == null then null else baseNameOf file;
  keys = listToAttrs (map (e: e // { value = [ e.value.line e.value.column ]; }) known);
}
