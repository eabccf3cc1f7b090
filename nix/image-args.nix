# Checks an image's arguments (the args.nix fields) where Nix can, and turns
# them into the JSON the CLI reads: `files` in the list form with store
# paths, paths of base images in the store, null fields left out so the
# CLI applies its defaults. What Nix cannot judge (the urunc versions in
# `urunc` and what each of them runs, path syntax inside the image, sizes)
# the CLI checks in the build, with the same messages as on the command
# line.
# `what` names the caller in messages; `root` is the directory that
# relative `files` keys are relative to (null: none allowed).
{ what, root }:
args:
let
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    elem
    isAttrs
    isList
    isString
    all
    ;

  fields = [
    "name"
    "tag"
    "files"
    "annotations"
    "entrypoint"
    "cmd"
    "env"
    "workingDir"
    "labels"
    "architecture"
    "created"
    "rootfs"
    "fromImage"
    "layers"
    "compression"
    "urunc"
  ];
  annotationKeys = [
    "unikernelType"
    "hypervisor"
    "binary"
    "cmdline"
    "unikernelVersion"
    "initrd"
    "block"
    "blkMntPoint"
    "useDMBlock"
    "mountRootfs"
    "solo5NetDev"
    "solo5BlkDev"
  ];
  # Keys urunc takes only from the runtime (pod or runtime annotations),
  # never from an image: set at build time, vAccel breaks hosts without it.
  runtimeOnlyKeys = [
    "vAccel"
    "RPCAddress"
  ];
  rootfsFields = [
    "type"
    "target"
    "files"
    "fromImage"
    "fsType"
    "size"
  ];

  fail = message: throw "${what}: ${message}";
  # Fails naming where attribute `key` of `set` was written (file:line:col,
  # when Nix knows: not for JSON), as the CLI does.
  failAt =
    set: key: message:
    let
      pos = builtins.unsafeGetAttrPos key set;
      where = "${pos.file}:${toString pos.line}:${toString pos.column}";
    in
    if pos == null then
      fail message
    else if pos.file == what then
      throw "${where}: ${message}"
    else
      throw "${where}: ${what}: ${message}";
  suggest = import ./suggest.nix;
  givenAnnotations = if isAttrs (args.annotations or null) then args.annotations else { };
  describe = import ./describe.nix;
  list = concatStringsSep ", ";
  unknownIn = allowed: set: filter (key: !elem key allowed) (attrNames set);
  # Fields set to null count as absent, so callers can write `x = if c then v else null;`.
  present = set: removeAttrs set (filter (key: set.${key} == null) (attrNames set));

  given = if isAttrs args then present args else fail "expected an attribute set of image arguments, not ${describe args}";
  unknown = unknownIn fields given;

  name = given.name or (fail "missing `name`, the image name such as \"hello-qemu\"");
  tag = given.tag or "latest";
  annotations = present (given.annotations or { });
  # Keys may also be written in full, "com.urunc.unikernel.binary".
  shortKey =
    key:
    let
      short = builtins.match "com[.]urunc[.]unikernel[.](.*)" key;
    in
    if short == null then key else builtins.head short;
  runtimeOnly = filter (key: elem (shortKey key) runtimeOnlyKeys) (attrNames annotations);
  unknownAnnotations = filter (key: !elem (shortKey key) annotationKeys) (attrNames annotations);
  required = [ "unikernelType" "hypervisor" "binary" ];
  missing = filter (
    key: (annotations.${key} or annotations."com.urunc.unikernel.${key}" or "") == ""
  ) required;
  # urunc reads the boolean ones as "true"/"false"; the CLI also takes Nix booleans there.
  booleanAnnotations = [
    "useDMBlock"
    "mountRootfs"
  ];
  badAnnotation = filter (
    key:
    !(isString annotations.${key} || elem (shortKey key) booleanAnnotations && builtins.isBool annotations.${key})
  ) (attrNames annotations);

  isStrings = value: isList value && all isString value;
  isStringSet = value: isAttrs value && all isString (builtins.attrValues value);
  # The type each optional field must have, and how to say it.
  shapes = {
    tag = [ isString "a string such as \"latest\"" ];
    annotations = [ isAttrs "an attribute set { unikernelType = ...; ... }" ];
    entrypoint = [ isStrings "a list of strings" ];
    cmd = [ isStrings "a list of strings" ];
    env = [
      (value: isStringSet value || isStrings value)
      "an attribute set of strings or a list of \"KEY=value\" strings"
    ];
    workingDir = [ isString "an absolute path string" ];
    labels = [ isStringSet "an attribute set of strings" ];
    architecture = [ isString "a string such as \"amd64\"" ];
    created = [ isString "an RFC 3339 time string such as \"2024-01-01T00:00:00Z\"" ];
    rootfs = [ isAttrs "an attribute set { type; ... }" ];
    layers = [
      (value: elem value [ "auto" "single" ])
      "\"auto\" (each large artifact in its own layer) or \"single\" (one layer)"
    ];
    compression = [
      (value: elem value [ "none" "gzip" "zstd" ])
      "\"none\", \"gzip\" or \"zstd\""
    ];
    # The versions themselves are checked by the CLI, with its message.
    urunc = [ isString "a string of urunc versions such as \"0.8\", \"0.6,0.8\" or \"0.6-main\"" ];
  };
  # The fields that take one of a few words, for a suggestion.
  choices = {
    layers = [ "auto" "single" ];
    compression = [ "none" "gzip" "zstd" ];
  };
  misshapen = filter (field: given ? ${field} && !(builtins.head shapes.${field}) given.${field}) (
    attrNames shapes
  );

  filesOf = field: files: import ./files.nix { what = "${what}: ${field}"; inherit root; } files;
  sourceOf = field: source: import ./source.nix { what = "${what}: ${field}"; inherit root; } source;

  rootfs =
    let
      given' = present given.rootfs;
      unknownRootfs = unknownIn rootfsFields given';
    in
    if unknownRootfs != [ ] then
      let
        field = builtins.head unknownRootfs;
      in
      failAt given.rootfs field "rootfs: unknown field `${field}`; allowed: ${list rootfsFields}${suggest field rootfsFields}"
    else
      given'
      // (if given' ? files then { files = filesOf "rootfs.files" given'.files; } else { })
      // (if given' ? fromImage then { fromImage = sourceOf "rootfs.fromImage" given'.fromImage; } else { });

  checked =
    if unknown != [ ] then
      let
        field = builtins.head unknown;
      in
      failAt args field "unknown field `${field}`; allowed: ${list fields}${suggest field fields}"
    else if misshapen != [ ] then
      let
        field = builtins.head misshapen;
      in
      failAt args field "`${field}` must be ${builtins.elemAt shapes.${field} 1}, not ${describe given.${field}}${
        if isString given.${field} then suggest given.${field} (choices.${field} or [ ]) else ""
      }"
    else if !isString name || name == "" then
      failAt args "name" "`name` must be a non-empty string such as \"hello-qemu\", not ${describe name}"
    else if tag == "" then
      failAt args "tag" "`tag` must not be empty"
    else if runtimeOnly != [ ] then
      failAt givenAnnotations (builtins.head runtimeOnly) "annotations: `${builtins.head runtimeOnly}` is runtime-only: urunc never takes it from an image, and set at build time it breaks hosts without vAccel; set it as a pod or runtime annotation"
    else if unknownAnnotations != [ ] then
      let
        key = builtins.head unknownAnnotations;
      in
      failAt givenAnnotations key "annotations: `${key}` is not a urunc annotation; allowed: ${list annotationKeys}${suggest (shortKey key) annotationKeys}"
    else if badAnnotation != [ ] then
      failAt givenAnnotations (builtins.head badAnnotation) "annotations.${builtins.head badAnnotation} must be a string (\"\" means unset), not ${
        describe annotations.${builtins.head badAnnotation}
      }"
    else if missing != [ ] then
      failAt args "annotations" "annotations.${builtins.head missing} is required (urunc needs unikernelType, hypervisor and binary)"
    else
      given
      // { inherit tag; }
      // (if given ? annotations then { inherit annotations; } else { })
      // (if given ? files then { files = filesOf "files" given.files; } else { })
      // (if given ? fromImage then { fromImage = sourceOf "fromImage" given.fromImage; } else { })
      // (if given ? rootfs then { inherit rootfs; } else { });
in
checked
