#!/usr/bin/env bash
# Boots real Linux guests built by bimanix, the way urunc boots them.
#
# Packages Debian's cloud kernel (an EFI-stub bzImage, fetched with apt-get
# download) with a rootfs that `rootfs` builds from busybox-static and
# tests/boot/init, reads each image back like urunc does (tests/boot/
# readimage.py: Entrypoint + Cmd, /urunc.json decoded, binary and initrd or
# block taken from the layer), boots it with qemu-system-x86_64 (TCG) and the
# kernel command line urunc uses for Linux guests, and checks what the guest
# prints: its arguments (one holding a space), files only the rootfs has, and
# files from a base image given as rootfs.fromImage (tests/boot/mkbase.py: two
# layers, a whiteout and an opaque directory, as a docker-archive, an OCI
# archive and an OCI layout; and the same changes made by podman). Block
# images (ext2, ext4) are checked with e2fsprogs and booted as root from the
# first qemu disk whose driver the kernel has built in (urunc uses virtio-blk,
# a module in Debian's cloud kernel, which has NVMe built in). Images are
# built a second time from touched copies of the inputs to show the archives
# are byte-identical.
#
# Run as root on Debian 12: installs what is missing with apt-get. The kernel
# is cached in $BIMANIX_KERNEL_CACHE (default /var/cache/bimanix-tests).
# $BIMANIX is the binary under test (default target/release/bimanix, built
# if missing). Each check prints "ok - ..." or "not ok - ..."; the last line
# is "N passed, M failed"; exits 1 when anything failed. BIMANIX_TEST_KEEP=1
# keeps the work directory (images, serial logs) for a look afterwards.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
fixtures=$root/tests/boot
bimanix=${BIMANIX:-$root/target/release/bimanix}
cache=${BIMANIX_KERNEL_CACHE:-/var/cache/bimanix-tests}

. "$root/tests/lib.sh"

tmp=$(mktemp -d /tmp/bimanix-boot.XXXXXX)
if [ -n "${BIMANIX_TEST_KEEP:-}" ]; then
    echo "# keeping $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi

# --- 1. What the test needs ---------------------------------------------------
need=()
for pair in qemu-system-x86_64:qemu-system-x86 e2fsck:e2fsprogs debugfs:e2fsprogs \
            cpio:cpio python3:python3 skopeo:skopeo podman:podman apt-cache:apt; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    echo "# installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -q >"$tmp/apt.log" 2>&1 &&
        apt-get install -y -q --no-install-recommends "${need[@]}" >>"$tmp/apt.log" 2>&1; then
        ok "installed ${need[*]}"
    else
        tail -n 20 "$tmp/apt.log"
        notok "apt-get install ${need[*]} failed"
        finish
    fi
fi
busybox=/bin/busybox   # from busybox-static

if [ ! -x "$bimanix" ]; then
    echo "# building $bimanix"
    (cd "$root" && cargo build --release --locked 2>&1 | tail -n 3)
fi
if [ ! -x "$bimanix" ]; then
    notok "no bimanix binary at $bimanix"
    finish
fi

# --- 2. Debian's cloud kernel -------------------------------------------------
# linux-image-cloud-amd64 is a metapackage: its dependency is the real kernel.
meta=linux-image-cloud-amd64
resolve_kernel() {
    apt-cache depends "$meta" 2>/dev/null |
        sed -n 's/^ *|\{0,1\}Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n 1
}
pkg=$(resolve_kernel)
if [ -z "$pkg" ]; then
    apt-get update -q >"$tmp/apt.log" 2>&1 || tail -n 20 "$tmp/apt.log"
    pkg=$(resolve_kernel)
fi
if [ -z "$pkg" ]; then
    notok "apt-cache depends $meta names no linux-image-*-cloud-amd64 package"
    finish
fi
version=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
kdir=$cache/${pkg}_${version}
if [ -s "$kdir/vmlinuz" ] && [ -s "$kdir/config" ]; then
    echo "# kernel: $pkg $version (cached in $kdir)"
else
    mkdir -p "$tmp/deb" && chmod 777 "$tmp/deb"   # apt's _apt user writes there
    if (cd "$tmp/deb" && apt-get download "$pkg" >"$tmp/download.log" 2>&1) &&
        dpkg-deb -x "$tmp/deb/${pkg}_"*.deb "$tmp/deb/x"; then
        mkdir -p "$kdir.new" &&
            cp "$tmp/deb/x/boot/vmlinuz-"* "$kdir.new/vmlinuz" &&
            cp "$tmp/deb/x/boot/config-"* "$kdir.new/config" &&
            rm -rf "$kdir" && mv "$kdir.new" "$kdir"
        rm -rf "$tmp/deb"
    else
        cat "$tmp/download.log"
    fi
    if [ -s "$kdir/vmlinuz" ] && [ -s "$kdir/config" ]; then
        ok "downloaded $pkg $version"
    else
        notok "could not download and unpack $pkg $version"
        finish
    fi
fi
kernel=$kdir/vmlinuz
kconfig=$kdir/config
magic=$(head -c 2 "$kernel")
hdrs=$(dd if="$kernel" bs=1 skip=$((0x202)) count=4 2>/dev/null)
check "the kernel is an EFI-stub bzImage (MZ, HdrS at 0x202)" test "$magic" = MZ -a "$hdrs" = HdrS

# --- 3. Inputs ----------------------------------------------------------------
in=$tmp/in
mkdir -p "$in/rootdir/etc/bimanix"
cp "$kernel" "$in/vmlinuz"
cp "$fixtures/init" "$in/init"
chmod 755 "$in/init"
token=rootfs-only-$(od -An -tx8 -N8 /dev/urandom | tr -d ' ')
echo "$token" >"$in/rootdir/etc/bimanix/rootfs-only"

# The base image: a hand-made two-layer docker-archive, and the same image as
# skopeo writes it as an OCI archive (gzip layers) and an OCI layout.
if python3 "$fixtures/mkbase.py" "$busybox" "$in/base.tar" "$tmp/layer1.tar" &&
    skopeo copy -q "docker-archive:$in/base.tar" "oci-archive:$in/base-oci.tar" &&
    skopeo copy -q "docker-archive:$in/base.tar" "oci:$in/base-layout:latest"; then
    ok "base image made: docker-archive, OCI archive and OCI layout (skopeo)"
else
    notok "could not make the base image"
fi
# The same changes made by podman: layer 1 imported, layer 2 by a RUN whose
# whiteouts podman writes itself; saved as podman saves a docker-archive
# (layer.tar entries are symlinks to the blobs).
podman_tag=$$-$RANDOM
mkdir -p "$tmp/podman"
{
    echo "FROM localhost/bimanix-boot-test-layer1:$podman_tag"
    cat <<'EOF'
RUN ["/bin/busybox", "sh", "-ec", "bb=/bin/busybox; $bb rm /etc/base/removed; \
     echo over-from-layer-2 >/etc/base/over; \
     $bb rm -r /opt/opq; $bb mkdir /opt/opq; echo new-from-layer-2 >/opt/opq/new"]
EOF
} >"$tmp/podman/Containerfile"
if podman import -q "$tmp/layer1.tar" "localhost/bimanix-boot-test-layer1:$podman_tag" >"$tmp/podman.log" 2>&1 &&
    podman build -q --pull=never --isolation chroot \
        -t "localhost/bimanix-boot-test-base:$podman_tag" "$tmp/podman" >>"$tmp/podman.log" 2>&1 &&
    podman save -q --format docker-archive -o "$in/base-podman.tar" \
        "localhost/bimanix-boot-test-base:$podman_tag" >>"$tmp/podman.log" 2>&1; then
    ok "base image made by podman import, podman build (RUN rm) and podman save"
else
    sed 's/^/# /' "$tmp/podman.log"
    notok "could not make the base image with podman"
fi
podman rmi -i "localhost/bimanix-boot-test-base:$podman_tag" \
    "localhost/bimanix-boot-test-layer1:$podman_tag" >/dev/null 2>&1

# The guest's arguments: Entrypoint + Cmd.
argv=(/init hello "two words" k=v)

# nix_strings ARG...: the arguments as Nix strings (they hold no quote,
# backslash or dollar).
nix_strings() {
    local a
    for a; do printf ' "%s"' "$a"; done
}

# write_args FILE NAME TYPE FROMIMAGE FSTYPE SIZE BUSYBOX: an args.nix for
# bimanix (empty FROMIMAGE, FSTYPE, SIZE leave the field out; BUSYBOX=yes
# adds the host's static busybox to rootfs.files).
write_args() {
    local file=$1 name=$2 type=$3 from=$4 fstype=$5 size=$6 bb=$7 extra=
    [ "$bb" = yes ] && extra=" \"$busybox\" = \"/bin/busybox\";"
    {
        echo "{"
        echo "  name = \"linux-$name\"; tag = \"test\";"
        echo "  files = { \"./vmlinuz\" = \"/kernel\"; };"
        echo "  annotations = { unikernelType = \"linux\"; hypervisor = \"qemu\"; binary = \"/kernel\"; };"
        echo "  entrypoint = [$(nix_strings "${argv[0]}") ];"
        echo "  cmd = [$(nix_strings "${argv[@]:1}") ];"
        echo "  rootfs = {"
        echo "    type = \"$type\";"
        echo "    files = { \"./init\" = \"/init\"; \"./rootdir\" = \"/\";$extra };"
        [ -n "$from" ] && echo "    fromImage = $from;"
        [ -n "$fstype" ] && echo "    fsType = \"$fstype\";"
        [ -n "$size" ] && echo "    size = \"$size\";"
        echo "  };"
        echo "}"
    } >"$file"
}

# The images: NAME TYPE FROMIMAGE FSTYPE SIZE BUSYBOX
images=(
    "initrd initrd - - - yes"
    "initrd-base initrd ./base.tar - - no"
    "initrd-layout initrd ./base-layout - - no"
    "initrd-podman initrd ./base-podman.tar - - no"
    "ext2 block - ext2 64M yes"
    "ext4-base block ./base-oci.tar ext4 - no"
)
for spec in "${images[@]}"; do
    read -r name type from fstype size bb <<<"$spec"
    [ "$from" = - ] && from=
    [ "$fstype" = - ] && fstype=
    [ "$size" = - ] && size=
    write_args "$in/$name.nix" "$name" "$type" "$from" "$fstype" "$size" "$bb"
done
# initrd.nix in JSON: bimanix must make the same archive from it.
cat >"$in/initrd-json.json" <<EOF
{
  "name": "linux-initrd", "tag": "test",
  "files": { "./vmlinuz": "/kernel" },
  "annotations": { "unikernelType": "linux", "hypervisor": "qemu", "binary": "/kernel" },
  "entrypoint": [ "${argv[0]}" ],
  "cmd": [ "${argv[1]}", "${argv[2]}", "${argv[3]}" ],
  "rootfs": { "type": "initrd",
    "files": { "./init": "/init", "./rootdir": "/", "$busybox": "/bin/busybox" } }
}
EOF

# build DIR NAME [EXT]: builds DIR/NAME.nix (or DIR/NAME.EXT) into DIR/NAME.tar.
build() {
    local dir=$1 name=$2 ext=${3:-nix}
    if "$bimanix" build "$dir/$name.$ext" -o "$dir/$name.tar" >"$tmp/build.log" 2>&1; then
        ok "bimanix build $name"
    else
        sed 's/^/# /' "$tmp/build.log"
        notok "bimanix build $name"
        return 1
    fi
}

# --- 4. Reading an image back like urunc -------------------------------------
# readback NAME STORAGE: reads $in/NAME.tar into $tmp/NAME and checks it.
readback() {
    local name=$1 storage=$2 out=$tmp/$1
    if ! python3 "$fixtures/readimage.py" "$in/$name.tar" "$out" >"$out.info" 2>"$out.err"; then
        sed 's/^/# /' "$out.err"
        notok "$name: urunc can read the image back"
        return 1
    fi
    ok "$name: urunc can read the image back"
    check "$name: platform linux/amd64" grep -qx 'platform linux/amd64' "$out.info"
    # The generated rootfs, the kernel and the top layer: a base given as
    # rootfs.fromImage goes into the rootfs, not the layers.
    check "$name: the image has three layers" grep -qx 'layers 3' "$out.info"
    check "$name: urunc.json binary is /kernel" grep -qx 'binary /kernel' "$out.info"
    check "$name: the binary is the kernel" cmp -s "$out/binary" "$kernel"
    printf '%s\n' "${argv[@]}" >"$out.argv"
    check "$name: Entrypoint + Cmd are the arguments" cmp -s "$out/argv" "$out.argv"
    if [ "$storage" = initrd ]; then
        check "$name: urunc.json initrd is /.boot/rootfs" grep -qx 'initrd /.boot/rootfs' "$out.info"
        check "$name: urunc.json has no block" bash -c "! grep -q '^block' '$out.info'"
        check "$name: the initrd is an uncompressed newc cpio" [ "$(head -c 6 "$out/initrd")" = 070701 ]
        check "$name: cpio reads the initrd" bash -c "cpio -it --quiet <'$out/initrd' >'$out.list'"
    else
        check "$name: urunc.json block is /.boot/rootfs" grep -qx 'block /.boot/rootfs' "$out.info"
        check "$name: urunc.json blkMntPoint is /" grep -qx 'blkMntPoint /' "$out.info"
        check "$name: urunc.json has no initrd" bash -c "! grep -q '^initrd' '$out.info'"
    fi
}

# --- 5. Booting ---------------------------------------------------------------
# boot NAME BASE APPEND [QEMU-DISK-ARGS ROOTDEV FSTYPE]: boots the image read
# back into $tmp/NAME, from its initrd or (with the disk arguments) from its
# block image as root, and checks the guest's output. BASE=yes when the rootfs
# is built on the base image. APPEND=yes appends a cpio holding
# /etc/bimanix/appended to the initrd first, as urunc appends its config cpio
# for urunit: the kernel finds it only when bimanix's cpio ends properly.
boot() {
    local name=$1 base=$2 append=$3 disk=${4:-} rootdev=${5:-} fstype=${6:-} out=$tmp/$1
    local tail= arg i
    # urunc wraps each argument holding a space in single quotes, unescaped.
    for arg in "${argv[@]:1}"; do
        [[ $arg == *" "* ]] && arg="'$arg'"
        tail+=" $arg"
    done
    local cmdline qemu=(qemu-system-x86_64 -m 256 -nographic -no-reboot -kernel "$out/binary")
    if [ -z "$disk" ]; then
        cmdline="panic=-1 console=ttyS0 root=/dev/ram0 rw rdinit=${argv[0]} --$tail"
        if [ "$append" = yes ]; then
            mkdir -p "$out.extra/etc/bimanix"
            echo "appended-$token" >"$out.extra/etc/bimanix/appended"
            (cd "$out.extra" && find etc | LC_ALL=C sort | cpio -o -H newc --quiet) >"$out.extra.cpio"
            cat "$out/initrd" "$out.extra.cpio" >"$out/initrd+extra"
            qemu+=(-initrd "$out/initrd+extra")
        else
            qemu+=(-initrd "$out/initrd")
        fi
    else
        cmdline="panic=-1 console=ttyS0 root=$rootdev rw init=${argv[0]} --$tail"
        # shellcheck disable=SC2206 # the disk arguments are words
        qemu+=(-drive "file=$out/block,format=raw,if=none,id=rootdisk" $disk)
    fi
    echo "# $name: ${qemu[*]} -append \"$cmdline\""
    local start=$SECONDS status
    timeout 120 "${qemu[@]}" -append "$cmdline" </dev/null >"$out.serial.raw" 2>"$out.qemu.err"
    status=$?
    tr -d '\r' <"$out.serial.raw" >"$out.serial"
    # With panic=-1 and -no-reboot, a panic also ends qemu with status 0:
    # only the kernel's "Power down" tells that /init ran to its end.
    if [ "$status" -eq 0 ] && grep -q 'reboot: Power down' "$out.serial" &&
        ! grep -q 'Kernel panic' "$out.serial"; then
        ok "$name: the guest booted and powered off ($((SECONDS - start)) s)"
    else
        [ "$status" -eq 124 ] && echo "# $name: qemu still ran after 120 s"
        sed 's/^/# qemu: /' "$out.qemu.err"
        tail -n 15 "$out.serial" | sed 's/^/# serial: /'
        notok "$name: the guest booted and powered off (qemu status $status)"
    fi

    # The kernel passes init the words after "--", split on spaces.
    local words
    read -ra words <<<"$tail"
    local expect=("BIMANIX-ARGV0 <${argv[0]}>" "BIMANIX-WORDS ${#words[@]}")
    for ((i = 1; i < ${#argv[@]}; i++)); do
        expect+=("BIMANIX-ARG $i <${argv[i]}>")
    done
    expect+=("BIMANIX-ARGC $((${#argv[@]} - 1))")
    expect+=("BIMANIX-FILE /etc/bimanix/rootfs-only <$token>")
    if [ "$append" = yes ]; then
        expect+=("BIMANIX-FILE /etc/bimanix/appended <appended-$token>")
    else
        expect+=("BIMANIX-FILE /etc/bimanix/appended absent")
    fi
    if [ "$base" = yes ]; then
        expect+=("BIMANIX-FILE /etc/base/kept <kept-from-layer-1>"
            "BIMANIX-FILE /etc/base/removed absent"
            "BIMANIX-FILE /etc/base/over <over-from-layer-2>"
            "BIMANIX-FILE /opt/opq/old absent"
            "BIMANIX-FILE /opt/opq/new <new-from-layer-2>"
            "BIMANIX-LINK /bin/sh <busybox>")
    else
        expect+=("BIMANIX-FILE /etc/base/kept absent" "BIMANIX-LINK /bin/sh absent")
    fi
    if [ -z "$disk" ]; then
        expect+=("BIMANIX-ROOT rootfs rootfs")
    else
        expect+=("BIMANIX-ROOT /dev/root $fstype")   # the kernel's name for root=
    fi
    expect+=(BIMANIX-END)
    local line missing=0
    for line in "${expect[@]}"; do
        if grep -qxF -- "$line" "$out.serial"; then
            ok "$name: the guest printed \"$line\""
        else
            notok "$name: the guest printed \"$line\""
            missing=1
        fi
    done
    [ "$missing" = 1 ] && grep '^BIMANIX' "$out.serial" | sed 's/^/# guest: /'
    return 0
}

# block_checks NAME FSTYPE BASE: e2fsprogs on the block image read back.
block_checks() {
    local name=$1 fstype=$2 base=$3 img=$tmp/$1/block
    if e2fsck -fn "$img" >"$tmp/$name.fsck" 2>&1; then
        ok "$name: e2fsck -fn finds the block image clean"
    else
        sed 's/^/# /' "$tmp/$name.fsck"
        notok "$name: e2fsck -fn finds the block image clean"
    fi
    local features
    features=$(dumpe2fs -h "$img" 2>/dev/null | sed -n 's/^Filesystem features: *//p')
    echo "# $name: features: $features"
    if [ "$fstype" = ext4 ]; then
        check "$name: the filesystem is ext4 (extent feature)" grep -qw extent <<<"$features"
    else
        check "$name: the filesystem is ext2 (no journal, no extents)" \
            bash -c "! grep -qwE 'extent|has_journal' <<<'$features'"
    fi
    debugfs -R "cat /init" "$img" >"$tmp/$name.init" 2>/dev/null
    check "$name: debugfs cat /init gives the init's bytes" cmp -s "$tmp/$name.init" "$fixtures/init"
    debugfs -R "cat /etc/bimanix/rootfs-only" "$img" >"$tmp/$name.only" 2>/dev/null
    check "$name: debugfs cat /etc/bimanix/rootfs-only gives the token" grep -qxF "$token" "$tmp/$name.only"
    debugfs -R "stat /bin/busybox" "$img" >"$tmp/$name.stat" 2>/dev/null
    check "$name: /bin/busybox is mode 0755" grep -qE 'Mode: +0755' "$tmp/$name.stat"
    check "$name: /bin/busybox is owned by uid 0 gid 0" grep -qE 'User: +0 +Group: +0 ' "$tmp/$name.stat"
    debugfs -R "cat /bin/busybox" "$img" >"$tmp/$name.busybox" 2>/dev/null
    check "$name: /bin/busybox has busybox's bytes" cmp -s "$tmp/$name.busybox" "$busybox"
    if [ "$base" = yes ]; then
        debugfs -R "ls /opt/opq" "$img" >"$tmp/$name.opq" 2>/dev/null
        check "$name: the opaque directory holds only layer 2's file" \
            bash -c "grep -qw new '$tmp/$name.opq' && ! grep -qw old '$tmp/$name.opq'"
    fi
}

# The disk qemu gives a block-root guest: the first whose driver the kernel
# has built in (urunc's virtio-blk first). Sets disk_args and disk_dev.
kcfg() { grep -qx "CONFIG_$1=y" "$kconfig"; }
disk_args= disk_dev= disk_name=
if kcfg VIRTIO_BLK && kcfg VIRTIO_PCI; then
    disk_name=virtio-blk disk_args="-device virtio-blk-pci,drive=rootdisk" disk_dev=/dev/vda
elif kcfg BLK_DEV_NVME; then
    disk_name=nvme disk_args="-device nvme,drive=rootdisk,serial=bimanix" disk_dev=/dev/nvme0n1
elif kcfg ATA && kcfg SATA_AHCI && kcfg SCSI && kcfg BLK_DEV_SD; then
    disk_name=ahci disk_dev=/dev/sda
    disk_args="-device ahci,id=ahci -device ide-hd,drive=rootdisk,bus=ahci.0"
elif kcfg ATA && kcfg ATA_PIIX && kcfg SCSI && kcfg BLK_DEV_SD; then
    disk_name=ide disk_dev=/dev/sda
    disk_args="-device ide-hd,drive=rootdisk,bus=ide.0"
elif kcfg SCSI_VIRTIO && kcfg VIRTIO_PCI && kcfg SCSI && kcfg BLK_DEV_SD; then
    disk_name=virtio-scsi disk_dev=/dev/sda
    disk_args="-device virtio-scsi-pci,id=scsi -device scsi-hd,drive=rootdisk,bus=scsi.0"
fi
for opt in VIRTIO_BLK VIRTIO_PCI BLK_DEV_NVME SATA_AHCI ATA_PIIX SCSI_VIRTIO BLK_DEV_SD \
    EXT2_FS EXT4_FS EXT4_USE_FOR_EXT2; do
    printf '# kernel config: %s\n' "$(grep -E "^(# )?CONFIG_$opt[= ]" "$kconfig" || echo "CONFIG_$opt absent")"
done
if [ -n "$disk_name" ]; then
    echo "# block-root boots use $disk_name ($disk_dev): its driver is built into $pkg"
else
    echo "# $pkg has no built-in driver for any qemu disk (virtio-blk, nvme, ahci, ide, virtio-scsi):"
    echo "# block images are checked with e2fsprogs only, not booted"
fi
# fs_builtin FSTYPE: whether the kernel can mount FSTYPE without modules.
fs_builtin() {
    case $1 in
    ext2) kcfg EXT2_FS || { kcfg EXT4_FS && kcfg EXT4_USE_FOR_EXT2; } ;;
    ext4) kcfg EXT4_FS ;;
    *) return 1 ;;
    esac
}

# --- 6. Build, inspect, read back, boot ---------------------------------------
for spec in "${images[@]}"; do
    read -r name type from fstype size bb <<<"$spec"
    build "$in" "$name" || continue
    if "$bimanix" inspect "$in/$name.tar" >"$tmp/$name.inspect" 2>&1; then
        ok "$name: bimanix inspect exits 0"
    else
        sed 's/^/# /' "$tmp/$name.inspect"
        notok "$name: bimanix inspect exits 0"
    fi
    check "$name: bimanix inspect reports the platform linux/amd64" \
        grep -qE '^platform:[[:space:]]+linux/amd64$' "$tmp/$name.inspect"
    check "$name: bimanix inspect detects the EFI-stub bzImage as amd64" \
        grep -qE '^binary architecture:[[:space:]]+amd64$' "$tmp/$name.inspect"
    readback "$name" "$type" || continue
    base=no
    [ "$from" != - ] && base=yes
    if [ "$type" = initrd ]; then
        # The image built on the OCI layout also gets urunc's appended cpio.
        append=no
        [ "$name" = initrd-layout ] && append=yes
        boot "$name" "$base" "$append"
    else
        [ "$size" != - ] && check "$name: the block image is $size" \
            [ "$(stat -c %s "$tmp/$name/block")" -eq $((${size%M} * 1024 * 1024)) ]
        block_checks "$name" "$fstype" "$base"
        if [ -n "$disk_name" ] && fs_builtin "$fstype"; then
            boot "$name" "$base" no "$disk_args" "$disk_dev" "$fstype"
        else
            echo "# $name: not booted: no built-in disk driver or no built-in $fstype"
        fi
    fi
done

# JSON args give the same archive as args.nix.
if build "$in" initrd-json json; then
    check "initrd-json.json and initrd.nix give byte-identical archives" \
        cmp -s "$in/initrd-json.tar" "$in/initrd.tar"
fi

# The base image's format does not matter: the same flattened filesystem
# gives the same initrd.
if [ -f "$tmp/initrd-base/initrd" ] && [ -f "$tmp/initrd-layout/initrd" ]; then
    check "the initrd from the docker-archive base equals the one from the OCI layout" \
        cmp -s "$tmp/initrd-base/initrd" "$tmp/initrd-layout/initrd"
else
    notok "the initrd from the docker-archive base equals the one from the OCI layout (not built)"
fi

# --- 7. Reproducibility ---------------------------------------------------------
# A second copy of the inputs elsewhere, with other times and permissions
# (the executable bits kept), must give the same archives byte for byte.
in2=$tmp/again/inputs
mkdir -p "$in2"
cp -a "$in/vmlinuz" "$in/init" "$in/rootdir" "$in/base-oci.tar" "$in/"*.nix "$in2/"
find "$in2" -exec touch -h -d '2001-02-03 04:05:06' {} +
find "$in2" -type f -exec chmod go-rwx {} +
for name in initrd ext2 ext4-base; do
    [ -f "$in/$name.tar" ] || { notok "$name: reproducible (first build missing)"; continue; }
    build "$in2" "$name" || continue
    check "$name: a second build elsewhere is byte-identical" cmp -s "$in/$name.tar" "$in2/$name.tar"
done

finish
