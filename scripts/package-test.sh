#!/usr/bin/env bash
# Installs the package from dist/ into a clean root and publishes through it to the dev broker,
# with the checkout's .deps and the Swift toolchain hidden (a private mount namespace lays empty
# directories over them) and an empty environment (env -i). Run by `make test` after `make package`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/port_lib.sh
source "$root/scripts/port_lib.sh" # port_open
version=$(sed -n 's/^public let sluiceVersion = "\(.*\)"$/\1/p' Sources/SluiceProtocol/Version.swift)
deb="$root/dist/sluice_${version}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || { echo "no $deb: run make package" >&2; exit 1; }

passed=0
failed=0
check() { # check NAME COMMAND...: runs COMMAND, counts and reports the outcome
    local name=$1; shift
    if "$@" >"$work/check.log" 2>&1; then
        passed=$((passed + 1)); echo "ok   $name"
    else
        failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$work/check.log"
    fi
}

work=$(mktemp -d /tmp/sluice-package-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
broker_pid=
cleanup() {
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The clean root: an empty dpkg database, then dpkg installs the package into it. The
# maintainer scripts run outside the root (chrootless: the root has no shell), in a private
# mount namespace over a copy of /etc, so the user they create never reaches the host.
target="$work/root"
mkdir -p "$target/var/lib/dpkg/info" "$target/var/lib/dpkg/updates"
touch "$target/var/lib/dpkg/status"
dpkg-deb -e "$deb" "$work/DEBIAN"

install_with_dpkg() {
    cat >"$work/install.sh" <<SCRIPT
set -euo pipefail
cp -a /etc "$work/etc"
mount --bind "$work/etc" /etc
# A machine where the package was once installed for real: start from no user in the copy.
if getent passwd sluice >/dev/null; then deluser --quiet --system sluice; fi
if getent group sluice >/dev/null; then delgroup --quiet --system sluice; fi
! getent passwd sluice
# Only the root's database is empty: the libraries it depends on are the host's.
dpkg --root="$target" --force-script-chrootless --force-depends -i "$deb"
dpkg --root="$target" -s sluice | grep -qx 'Status: install ok installed'
getent passwd sluice
[ "\$(id -u sluice)" -lt 1000 ]                 # a system user
getent passwd sluice | grep -q ':/var/lib/sluice:'
getent group sluice
# It may hold Kafka credentials: only root writes it, and only the gateway's group reads it.
[ "\$(stat -c %a:%U:%G "$target/etc/sluice/sluice.yaml")" = 640:root:sluice ]
# An upgrade keeps the admin's configuration (a conffile) and the user.
echo "# changed by the admin" >>"$target/etc/sluice/sluice.yaml"
dpkg --root="$target" --force-script-chrootless --force-depends --force-confold -i "$deb"
grep -qx "# changed by the admin" "$target/etc/sluice/sluice.yaml"
[ "\$(getent passwd sluice | wc -l)" -eq 1 ]
SCRIPT
    unshare --mount --propagation private bash "$work/install.sh"
}
check "dpkg installs it into a clean root, creates the sluice system user, keeps a changed conffile" \
    install_with_dpkg

has_files() {
    for f in usr/bin/sluice usr/lib/sluice/librdkafka.so.1 usr/lib/libsluice.so usr/lib/libsluice.a \
        usr/include/sluice.h usr/lib/pkgconfig/sluice.pc lib/systemd/system/sluice.service \
        etc/sluice/sluice.yaml usr/share/doc/sluice/copyright usr/share/doc/sluice/changelog.gz; do
        [ -e "$target/$f" ] || { echo "missing /$f"; return 1; }
    done
    grep -qx /etc/sluice/sluice.yaml "$work/DEBIAN/conffiles"
    grep -q 'adduser --system' "$work/DEBIAN/postinst"
    grep -q '^Depends:.*libssl' "$work/DEBIAN/control"
    grep -q '^Depends:.*libjemalloc2' "$work/DEBIAN/control"
    for script in postinst prerm postrm; do sh -n "$work/DEBIAN/$script"; done
}
check "the package holds the binary, librdkafka, libsluice, the unit, the config, LICENSE and changelog" has_files

java_client_jar() {
    local jar=$target/usr/share/java/sluice-client.jar version
    [ -f "$jar" ] || { echo "missing /usr/share/java/sluice-client.jar"; return 1; }
    version=$(sed -n 's/^Version: //p' "$work/DEBIAN/control")
    [ "$(readlink "$jar")" = "sluice-client-$version.jar" ] || { echo "sluice-client.jar does not link the $version jar"; return 1; }
    unzip -l "$jar" | grep -q 'io/sluice/client/SluiceClient.class'
    unzip -p "$jar" META-INF/MANIFEST.MF | grep -q "^Implementation-Version: $version"
}
check "the Java client is installed as /usr/share/java/sluice-client.jar" java_client_jar

runpath_is_relative() {
    local runpath
    runpath=$(readelf -d "$target/usr/bin/sluice" | sed -n 's/.*Library r[un]*path: \[\(.*\)\]/\1/p')
    echo "runpath: $runpath"
    # Every entry is relative to the binary: nothing points into a checkout or a toolchain.
    for entry in ${runpath//:/ }; do [[ "$entry" == '$ORIGIN'* ]] || return 1; done
    [[ ":$runpath:" == *':$ORIGIN/../lib/sluice:'* ]]
    ! ldd "$target/usr/bin/sluice" | grep -E "not found|\.deps|/opt/swift|swift"
    ldd "$target/usr/bin/sluice" | grep -q "$target/usr/bin/../lib/sluice/librdkafka.so.1"
}
check "sluice finds its librdkafka through \$ORIGIN and needs no Swift runtime" runpath_is_relative

unit_verifies() {
    local unit="$work/unit/sluice.service"
    mkdir -p "$work/unit"
    # systemd-analyze checks that ExecStart's binary exists: point it at the extracted one.
    sed "s|/usr/bin/sluice|$target/usr/bin/sluice|g" "$target/lib/systemd/system/sluice.service" >"$unit"
    systemd-analyze verify "$unit"
    grep -qx 'Type=notify' "$unit"
    grep -q '^ExecReload=.*/sluice reload ' "$unit"
}
if command -v systemd-analyze >/dev/null; then
    check "systemd-analyze verify accepts the unit" unit_verifies
fi

"$root/.deps/bin/tansu" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 1 100); do port_open "$port" && break; sleep 0.1; done

# Everything below runs with the checkout's .deps and the toolchain out of reach.
cat >"$work/hidden.sh" <<SCRIPT
set -euo pipefail
trap 'echo "--- serve.log"; cat "$work/serve.log" 2>/dev/null' ERR
mount -t tmpfs none "$root/.deps"
[ -d /opt/swift ] && mount -t tmpfs none /opt/swift
[ ! -e "$root/.deps/librdkafka" ]
run() { env -i PATH=/usr/bin:/bin "\$@"; }
sluice="$target/usr/bin/sluice"
run "\$sluice" --version | tee "$work/version.txt"
grep -qx 'librdkafka 2.8.0' "$work/version.txt"
cat >"$work/sluice.yaml" <<YAML
socket: $work/s.sock
kafka: { brokers: "127.0.0.1:$port", linger: 5ms }
spool: { path: $work/spool.db, max-bytes: 64MiB }
YAML
run "\$sluice" check-config "$work/sluice.yaml"
run "\$sluice" check-config "$target/etc/sluice/sluice.yaml"
env -i PATH=/usr/bin:/bin "\$sluice" serve --config "$work/sluice.yaml" >"$work/serve.log" 2>&1 &
serve=\$!
trap 'kill \$serve 2>/dev/null || true' EXIT
for _ in \$(seq 1 100); do [ -S "$work/s.sock" ] && break; sleep 0.1; done
grep -q "librdkafka 2.8.0 loaded from $target/usr/lib/sluice/librdkafka.so.1" "$work/serve.log"
printf 'p1\tone\np2\ttwo\np1\tthree\n' | run "\$sluice" send --socket "$work/s.sock" --topic packaged | tee "$work/send.txt"
grep -q 'sent 3 events, 3 acknowledged' "$work/send.txt"
# Built as a user would, through the package's sluice.pc (the sysroot points it at the clean root).
flags=\$(PKG_CONFIG_SYSROOT_DIR="$target" \
    PKG_CONFIG_LIBDIR="$target/usr/lib/pkgconfig:\$(pkg-config --variable pc_path pkg-config)" \
    pkg-config --cflags --libs sluice)
cc -o "$work/publish" "$root/clients/c/examples/publish.c" \$flags
env -i LD_LIBRARY_PATH="$target/usr/lib" "$work/publish" "$work/s.sock" packaged 5
run "\$sluice" stats --socket "$work/s.sock" --json >"$work/stats.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["records"]["published"] >= 8, d["records"]; assert d["retry"]["pending"] == 0; assert d["versions"]["librdkafka"] == "2.8.0"' "$work/stats.json"
# sluice tail reads back, with the bundled librdkafka and the gateway's config, what was published.
run "\$sluice" tail packaged --config "$work/sluice.yaml" >"$work/tail.txt"
published=\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"]["published"])' "$work/stats.json")
[ "\$(wc -l <"$work/tail.txt")" -eq "\$published" ] || { cat "$work/tail.txt"; false; }
awk -F'\t' '\$4 == "p1" && \$5 == "one" && /\tevent-id=/' "$work/tail.txt" | grep -q .
kill -TERM \$serve
wait \$serve
SCRIPT
check "installed sluice and libsluice publish to the dev broker with .deps and the toolchain hidden, env -i" \
    unshare --mount --propagation private bash "$work/hidden.sh"

echo "package test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
