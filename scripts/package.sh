#!/usr/bin/env bash
# Builds dist/sluice_VERSION_ARCH.deb: needs no checkout and no Swift toolchain where it is
# installed. The Swift runtime is linked statically; librdkafka 2.8.0 is bundled in
# /usr/lib/sluice and found through the binary's $ORIGIN-relative rpath.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '[package] %s\n' "$*" >&2; }

version=$(sed -n 's/^public let sluiceVersion = "\(.*\)"$/\1/p' Sources/SluiceProtocol/Version.swift)
arch=$(dpkg --print-architecture)
build="$root/.build-package"
stage="$build/stage"
out="$root/dist"
deb="$out/sluice_${version}_${arch}.deb"

say "building sluice $version in release mode with the Swift runtime linked in (a few minutes the first time)"
PKG_CONFIG_PATH="$root/.deps/librdkafka/lib/pkgconfig" SLUICE_RPATH='$ORIGIN/../lib/sluice' \
    swift build -c release --static-swift-stdlib --scratch-path "$build" --product sluice

rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$out"
install -D -m 755 "$build/release/sluice" "$stage/usr/bin/sluice"
strip --strip-unneeded "$stage/usr/bin/sluice"
install -D -m 644 "$(readlink -f .deps/librdkafka/lib/librdkafka.so.1)" "$stage/usr/lib/sluice/librdkafka.so.1"
strip --strip-unneeded "$stage/usr/lib/sluice/librdkafka.so.1"
make --no-print-directory -C clients/c install PREFIX=/usr DESTDIR="$stage" >/dev/null
# The Java client, as Debian's Java policy lays jars out: versioned file, unversioned link.
make --no-print-directory -C clients/java >/dev/null
install -D -m 644 "clients/java/build/sluice-client-$version.jar" "$stage/usr/share/java/sluice-client-$version.jar"
ln -s "sluice-client-$version.jar" "$stage/usr/share/java/sluice-client.jar"
install -D -m 644 packaging/sluice.service "$stage/lib/systemd/system/sluice.service"
install -D -m 640 packaging/sluice.yaml "$stage/etc/sluice/sluice.yaml"
doc="$stage/usr/share/doc/sluice"
install -D -m 644 LICENSE "$doc/copyright"
install -m 644 README.md docs/OPERATIONS.md "$doc/"
gzip -9n -c CHANGELOG.md >"$doc/changelog.gz"
for script in postinst prerm postrm; do install -m 755 "packaging/debian/$script" "$stage/DEBIAN/$script"; done
echo /etc/sluice/sluice.yaml >"$stage/DEBIAN/conffiles"

# Depends: the Debian packages holding the shared libraries the binaries name (NEEDED),
# resolved as the dynamic loader resolves them.
if ldd "$stage/usr/bin/sluice" | grep -q 'not found'; then
    ldd "$stage/usr/bin/sluice" >&2
    say "a library the binary needs is missing"
    exit 1
fi
packages=()
for elf in "$stage/usr/bin/sluice" "$stage/usr/lib/sluice/librdkafka.so.1" "$stage"/usr/lib/libsluice.so.*.*.*; do
    resolved=$(ldd "$elf")
    for name in $(readelf -d "$elf" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
        case "$name" in ld-linux*) continue ;; esac  # the loader comes with libc6
        lib=$(awk -v n="$name" '$1 == n && $3 ~ /^\// {print $3}' <<<"$resolved")
        [ -n "$lib" ] || { say "$elf: cannot resolve $name"; exit 1; }
        case "$lib" in "$stage"/*) continue ;; esac
        owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null || true)
        [ -n "$owner" ] || { say "no Debian package owns $lib"; exit 1; }
        packages+=("${owner%%:*}")
    done
done
depends=$(printf '%s\n' "${packages[@]}" adduser | sort -u | paste -sd, - | sed 's/,/, /g')

cat >"$stage/DEBIAN/control" <<CONTROL
Package: sluice
Version: $version
Architecture: $arch
Maintainer: Sluice developers <sluice@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends
Suggests: java17-runtime-headless, libzstd-jni-java
Section: net
Priority: optional
Homepage: file:///usr/share/doc/sluice/README.md
Description: local event gateway to Apache Kafka
 Processes publish events to a Unix socket in a small binary protocol; Sluice
 keys them, publishes them with librdkafka (bundled, 2.8.0) and keeps every
 acknowledged event in an SQLite spool while Kafka is unreachable. Includes the
 C client library (libsluice) with its header and pkg-config file, and the Java
 client (/usr/share/java/sluice-client.jar; zstd-jni only for compression).
CONTROL

dpkg-deb --root-owner-group -Zgzip --build "$stage" "$deb" >/dev/null
say "built $deb ($(du -h "$deb" | cut -f1))"
