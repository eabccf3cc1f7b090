# The artifact layers of an image as derivations of their own: one per
# `files` entry and one for a generated rootfs, each built by
# `bimanix layer` from that entry (or the rootfs), the creation time and
# the compression alone. Whatever else changes in the image (annotations,
# cmd, env, labels, other files), such a derivation and its store path stay
# the same, and two images with the same kernel share its layer. A layer
# derivation stores the layer's blob and a list of what it holds
# (layers.json: digest, diff_id and the key by which `bimanix describe`
# finds it again). An entry too small to be a layer of its own writes an
# empty list; entries copied out of images are left to the description.
# `json` is the image's checked arguments (image-args.nix).
{ program, system }:
json:
let
  inherit (builtins) filter concatMap substring stringLength;
  annotations = json.annotations or { };
  # The image paths that get a layer of their own whatever their size.
  artifactPaths = filter (p: builtins.isString p && p != "") (
    map (key: annotations.${key} or annotations."com.urunc.unikernel.${key}" or "") [
      "binary"
      "initrd"
      "block"
    ]
  );
  under =
    target: path:
    path == target || target == "/" || substring 0 (stringLength target + 1) path == target + "/";
  # What every layer shares: the fields that decide every layer's bytes.
  common =
    (if json ? created then { inherit (json) created; } else { })
    // (if json ? compression then { inherit (json) compression; } else { })
    // {
      name = "layer";
      # The reader wants these; they go into no layer.
      annotations = {
        unikernelType = "linux";
        hypervisor = "qemu";
        binary = "/";
      };
    };
  layer =
    name: fields: artifacts:
    derivation {
      name = import ./store-name.nix "${name}-layer";
      inherit system;
      builder = program;
      args = [
        "layer"
        "--args-from-env"
        "bimanixLayerPath"
        "-o"
        (placeholder "out")
      ]
      ++ concatMap (a: [
        "--artifact"
        a
      ]) artifacts;
      passAsFile = [ "bimanixLayer" ];
      bimanixLayer = builtins.toJSON (common // fields);
    };
  ownFiles = filter (e: !(e ? fromImage)) (json.files or [ ]);
  fileLayers = map (
    e: layer (baseNameOf e.target) { files = [ e ]; } (filter (under e.target) artifactPaths)
  ) ownFiles;
  rootfs = json.rootfs or null;
  rootfsLayers =
    if rootfs == null then
      [ ]
    else
      [
        (layer (baseNameOf (rootfs.target or "rootfs")) (
          { inherit rootfs; } // (if json ? architecture then { inherit (json) architecture; } else { })
        ) [ ])
      ];
in
if (json.layers or "auto") == "single" then [ ] else fileLayers ++ rootfsLayers
