# The multi-platform index derivation: `bimanix index` combines images of
# several platforms (mkUruncImage results, or any image archives or OCI
# layouts) into one OCI image index under one name and tag. As for images,
# the builder is the bimanix program itself, and the only inputs are the
# program and the images, so the index rebuilds only when one of them does.
# Every image that carries a name (mkUruncImage's `imageName`) must have
# the index's name; two images for one platform fail the build.
# `annotations` go on the index itself, sorted by key (GHCR shows a
# multi-platform package's description from the index's
# org.opencontainers.image.description).
#
# When every image is an image function's result (it has a
# `description`), the index has the programs an image has, none of which
# builds the index archive: `description` (`bimanix describe-index`: the
# index's own documents, its images named by their descriptions), `stream`
# (the oci-archive, the index derivation's bytes), copyToRegistry and copyTo
# (the whole index), copyToDockerDaemon and copyToPodman (the image for the
# machine they run on, under the index's name and tag, as `docker pull`
# picks it). When an image carries an SBOM or attestation (`sbom`,
# `provenance`), the index derivation carries them too, each image's
# listed by its own sha256-<hex> fallback index, and the programs, which
# would leave them out, throw and name `bimanix push` of the index.
{ program, system }:
args:
let
  what = "mkUruncIndex";
  fail = message: throw "${what}: ${message}";
  describe = import ./describe.nix;
  allowed = [
    "name"
    "tag"
    "images"
    "format"
    "annotations"
  ];
  formats = [
    "oci-archive"
    "oci-layout"
  ];
  given =
    if builtins.isAttrs args then
      args
    else
      fail "expected an attribute set { name; tag; images; }, not ${describe args}";
  unknown = builtins.filter (key: !builtins.elem key allowed) (builtins.attrNames given);
  name = given.name or (fail "missing `name`, the index's image name such as \"hello\"");
  tag = given.tag or "latest";
  format = given.format or "oci-archive";
  annotations = given.annotations or { };
  # The keys `bimanix index --annotation` takes (it checks the values).
  badKeys = builtins.filter (
    key: builtins.match "[A-Za-z0-9][A-Za-z0-9._/-]*" key == null
  ) (builtins.attrNames annotations);
  nonStrings = builtins.filter (key: !builtins.isString annotations.${key}) (
    builtins.attrNames annotations
  );
  images = given.images or (fail "missing `images`, a list of images such as [ imageAmd64 imageArm64 ]");
  # The position of each image, for messages.
  numbered = builtins.genList (i: {
    at = "images[${toString i}]";
    image = builtins.elemAt images i;
  }) (builtins.length images);
  misnamed = builtins.filter (
    n: builtins.isAttrs n.image && n.image ? imageName && n.image.imageName != name
  ) numbered;
  paths = map (n: import ./source.nix { what = "${what}: ${n.at}"; } n.image) numbered;
  suffix = if format == "oci-layout" then "" else ".tar";
  baseName = import ./store-name.nix "${name}-${tag}";
  annotationArgs = builtins.concatMap (key: [
    "--annotation"
    "${key}=${annotations.${key}}"
  ]) (builtins.attrNames annotations);
  undescribed = builtins.filter (n: !(builtins.isAttrs n.image && n.image ? description)) numbered;
  # Images with an SBOM or attestation: the index derivation carries them
  # (`bimanix index`), the programs, which write from the descriptions, could not.
  attached = builtins.any (n: builtins.isAttrs n.image && (n.image.attached or false)) numbered;
  description = import ./description.nix { inherit program system; } {
    inherit baseName;
    format = "oci-archive";
    args = [
      "describe-index"
      "--name"
      name
      "--tag"
      tag
      "-o"
      (placeholder "out")
    ]
    ++ annotationArgs
    ++ map (n: "${n.image.description}") numbered;
  };
  programs =
    if undescribed == [ ] then
      import ./programs.nix { inherit program system; } { inherit description what attached; }
      // {
        inherit description;
      }
    else
      let
        why = "${what}: ${(builtins.head undescribed).at} is an image archive, not an image function's result; stream and the copy programs need every image to be one (mkUruncImage, fromArgsFile, ...)";
      in
      builtins.mapAttrs (_: _: throw why) {
        stream = null;
        copyToRegistry = null;
        copyToDockerDaemon = null;
        copyToPodman = null;
        copyTo = null;
        description = null;
      };
in
if unknown != [ ] then
  fail "unknown field `${builtins.head unknown}`; allowed: ${builtins.concatStringsSep ", " allowed}"
else if !builtins.isString name || name == "" then
  fail "`name` must be a non-empty string such as \"hello\", not ${describe name}"
else if !builtins.isString tag || tag == "" then
  fail "`tag` must be a non-empty string such as \"latest\", not ${describe tag}"
else if !builtins.elem format formats then
  fail "format must be one of ${builtins.concatStringsSep ", " formats}, not ${describe format}"
else if !builtins.isAttrs annotations then
  fail "`annotations` must be an attribute set such as { \"org.opencontainers.image.description\" = \"...\"; }, not ${describe annotations}"
else if badKeys != [ ] then
  fail "annotations: the key ${builtins.toJSON (builtins.head badKeys)} is not an annotation key: use letters, digits, '.', '-', '_' and '/', starting with a letter or digit"
else if nonStrings != [ ] then
  let
    key = builtins.head nonStrings;
  in
  fail "annotations.${key} must be a string, not ${describe annotations.${key}}"
else if !builtins.isList images || images == [ ] then
  fail "`images` must be a non-empty list of images, not ${describe images}"
else if misnamed != [ ] then
  let
    first = builtins.head misnamed;
  in
  fail "${first.at} is the image ${first.image.imageName}, not ${name}; an index holds images of one name"
else
  derivation {
    name = baseName + suffix;
    inherit system;
    builder = program;
    args = [
      "index"
      "--name"
      name
      "--tag"
      tag
      "--format"
      format
      "-o"
      (placeholder "out")
    ]
    ++ annotationArgs
    ++ paths;
  }
  // programs
  // {
    imageName = name;
    imageTag = tag;
  }
