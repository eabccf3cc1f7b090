# Where each field of an image's arguments was written, for bimanix's
# messages about the image, in the archive's build and in the
# description's alike (both read it as the `__positions` of the JSON they
# get): { file; keys = { "annotations.cmdline" = [ line column ]; ... };
# names = { "files[0]" = "files.\"./kernel\""; ... }; } with the key paths
# of the JSON that image-args.nix writes (`files` as a list, sorted by
# source as attrValues sorts them) and the names the args give them.
# Positions come from builtins.unsafeGetAttrPos, for the keys written in
# the file that holds `name` (an args.nix, or the Nix file that calls
# mkUruncImage); values written elsewhere, and JSON arguments, have none:
# then `file` is null.
args:
let
  inherit (builtins)
    attrNames
    concatMap
    genList
    isAttrs
    isList
    length
    elemAt
    listToAttrs
    match
    toJSON
    unsafeGetAttrPos
    ;
  # As the CLI quotes a key that is not a plain word.
  quote = key: if match "[A-Za-z0-9_-]+" key != null then key else toJSON key;
  isSet = value: isAttrs value && (value.type or null) != "derivation";
  file = if isSet args then (unsafeGetAttrPos "name" args).file or null else null;
  at =
    path: pos:
    if pos == null || pos.file != file then
      [ ]
    else
      [
        {
          name = path;
          value = [
            pos.line
            pos.column
          ];
        }
      ];
  # Every attribute of `set` under `prefix`, nested sets too; `files`
  # (at any depth) becomes a list.
  fieldsOf =
    prefix: set:
    concatMap (
      name:
      let
        path = "${prefix}${quote name}";
        value = set.${name};
      in
      at path (unsafeGetAttrPos name set)
      ++ (
        if name == "files" then
          filesOf path value
        else if isSet value then
          fieldsOf "${path}." value
        else
          [ ]
      )
    ) (attrNames set);
  filesOf =
    path: files:
    if isSet files then
      let
        names = attrNames files;
      in
      concatMap (
        i:
        let
          name = elemAt names i;
          item = "${path}[${toString i}]";
          value = files.${name};
        in
        at item (unsafeGetAttrPos name files) ++ (if isSet value then fieldsOf "${item}." value else [ ])
      ) (genList (i: i) (length names))
    else if isList files then
      concatMap (
        i:
        let
          item = "${path}[${toString i}]";
          value = elemAt files i;
        in
        if isSet value then at item (unsafeGetAttrPos "source" value) ++ fieldsOf "${item}." value else [ ]
      ) (genList (i: i) (length files))
    else
      [ ];
  nameOf =
    path: files:
    if isSet files then
      genList (i: {
        name = "${path}[${toString i}]";
        value = "${path}.${quote (elemAt (attrNames files) i)}";
      }) (length (attrNames files))
    else
      [ ];
in
if file == null then
  null
else
  {
    inherit file;
    keys = listToAttrs (fieldsOf "" args);
    names = listToAttrs (
      nameOf "files" (args.files or null) ++ nameOf "rootfs.files" ((args.rootfs or { }).files or null)
    );
  }
