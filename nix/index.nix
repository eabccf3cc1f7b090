# The multi-platform index derivation: `bimanix index` combines images of
# several platforms (mkUruncImage results, or any image archives or OCI
# layouts) into one OCI image index under one name and tag. As for images,
# the builder is the bimanix program itself, and the only inputs are the
# program and the images, so the index rebuilds only when one of them does.
# Every image that carries a name (mkUruncImage's `imageName`) must have
# the index's name; two images for one platform fail the build.
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
in
if unknown != [ ] then
  fail "unknown field `${builtins.head unknown}`; allowed: ${builtins.concatStringsSep ", " allowed}"
else if !builtins.isString name || name == "" then
  fail "`name` must be a non-empty string such as \"hello\", not ${describe name}"
else if !builtins.isString tag || tag == "" then
  fail "`tag` must be a non-empty string such as \"latest\", not ${describe tag}"
else if !builtins.elem format formats then
  fail "format must be one of ${builtins.concatStringsSep ", " formats}, not ${describe format}"
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
    ++ paths;
  }
  // {
    imageName = name;
    imageTag = tag;
  }
