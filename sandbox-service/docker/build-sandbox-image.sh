#!/usr/bin/env bash
# Builds the default sandbox image, turnpike/sandbox-busybox:latest, without any registry: a static
# busybox (Debian's busybox-static) in an otherwise empty root file system, imported into the local
# Docker engine. Idempotent: does nothing when the image exists (pass --force to rebuild).
# Usage: sandbox-service/docker/build-sandbox-image.sh [--force] [image-name]
set -euo pipefail
force=0
if [ "${1:-}" = "--force" ]; then force=1; shift; fi
image="${1:-turnpike/sandbox-busybox:latest}"

if ! docker version >/dev/null 2>&1; then
  echo "build-sandbox-image: the Docker engine is not reachable" >&2; exit 1
fi
if [ "$force" = 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "build-sandbox-image: $image already exists"; exit 0
fi
busybox="$(command -v busybox || true)"
if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  echo "build-sandbox-image: a static busybox is needed (apt-get install busybox-static)" >&2; exit 1
fi
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/workspace" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys"
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
mkdir -p "$rootfs/usr"; ln -s ../bin "$rootfs/usr/bin"
printf 'root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000:sandbox:/workspace:/bin/sh\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nsandbox:x:1000:\n' > "$rootfs/etc/group"
tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'WORKDIR /workspace' -c 'ENV PATH=/bin' - "$image" >/dev/null
echo "build-sandbox-image: built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
