# The `files` of an image (or of its rootfs) in the list form the CLI takes
# from Nix: [ { source = "/nix/store/..."; target = "/t"; mode = "0755"; } ],
# sources already in the store.
#
# `files` is either the args.nix attribute set, whose keys are paths
# relative to `root` (the args file's directory) or absolute,
#   { "./hello.hvt" = "/unikernel/hello.hvt";
#     "./run.sh" = { target = "/run.sh"; mode = "0755"; }; }
# or a list of { source; target; mode ? null; } whose source is a path, a
# derivation or a store path string. Attribute names cannot carry store
# context, which is why derivations can only come in through the list form.
# A list entry with `fromImage` (an image archive: path, derivation or store
# path string) copies `source`, an absolute path in that image, out of it;
# its `architecture` picks the image of a multi-platform archive. A relative
# path string as `source` or `fromImage` is relative to `root`.
{ what, root }:
files:
let
  describe = import ./describe.nix;
  # "file:line:col: " of attribute `key` of `set`, when Nix knows it.
  at =
    set: key:
    let
      pos = builtins.unsafeGetAttrPos key set;
    in
    if pos == null then "" else "${pos.file}:${toString pos.line}:${toString pos.column}: ";

  # The checked { target; mode; } of one entry; callers add the source.
  entry =
    where: allowed: spec:
    let
      unknown = builtins.filter (key: !builtins.elem key allowed) (builtins.attrNames spec);
      target = spec.target or null;
      mode = spec.mode or null;
    in
    if unknown != [ ] then
      let
        key = builtins.head unknown;
      in
      throw "${at spec key}${where}: unknown key `${key}`; allowed: ${builtins.concatStringsSep ", " allowed}${import ./suggest.nix key allowed}"
    else if !builtins.isString target then
      throw "${at spec "target"}${where}: `target` must be an absolute path in the image such as \"/unikernel/app\", not ${describe target}"
    else if builtins.substring 0 1 target != "/" then
      throw "${at spec "target"}${where}: target \"${target}\" must be absolute (start with /)"
    else if !(mode == null || builtins.isString mode) then
      throw "${at spec "mode"}${where}: `mode` must be a string such as \"0755\", not ${describe mode}"
    else
      { inherit target; } // (if mode == null then { } else { inherit mode; });

  fromAttrs =
    key: value:
    let
      where = "${what}.\"${key}\"";
      source =
        if builtins.substring 0 1 key == "/" then
          /. + key
        else if root == null then
          throw "${where}: a relative source needs `root`, the directory it is relative to; or give `files` as a list of { source; target; }"
        else
          root + "/${key}";
      spec =
        if builtins.isString value then
          { target = value; }
        else if builtins.isAttrs value then
          value
        else
          throw "${where}: expected a target path string or { target; mode; }, not ${describe value}";
    in
    entry where [ "target" "mode" ] spec // { source = import ./source.nix { what = where; } source; };

  fromList =
    index: spec:
    let
      where = "${what}[${toString index}]";
      fromImage = spec.fromImage or null;
    in
    if builtins.isAttrs spec && (spec.type or null) != "derivation" && spec ? source then
      entry where [ "source" "target" "mode" "fromImage" "architecture" ] spec
      // (
        if fromImage == null && spec ? architecture then
          throw "${where}.architecture: picks the image of a multi-platform fromImage; this entry has no fromImage"
        else if fromImage == null then
          { source = import ./source.nix { what = "${where}.source"; inherit root; } spec.source; }
        else if !builtins.isString (spec.architecture or "") then
          throw "${where}.architecture: must be a string such as \"arm64\", not ${describe spec.architecture}"
        else if builtins.isString spec.source && builtins.substring 0 1 spec.source == "/" then
          {
            inherit (spec) source;
            fromImage = import ./source.nix { what = "${where}.fromImage"; inherit root; } fromImage;
          }
          // (if spec ? architecture then { inherit (spec) architecture; } else { })
        else
          throw "${where}.source: with fromImage, give the absolute path in that image as a string, such as \"/urunit\", not ${describe spec.source}"
      )
    else
      throw "${where}: expected { source; target; mode ? null; }, not ${
        if builtins.isAttrs spec && (spec.type or null) != "derivation" then "a set without `source`" else describe spec
      }";
in
if builtins.isAttrs files then
  builtins.attrValues (builtins.mapAttrs fromAttrs files)
else if builtins.isList files then
  builtins.genList (index: fromList index (builtins.elemAt files index)) (builtins.length files)
else
  throw "${what}: expected an attribute set { \"./file\" = \"/target\"; } or a list of { source; target; }, not ${describe files}"
