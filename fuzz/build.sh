#!/usr/bin/env bash
# Builds the two libFuzzer targets into fuzz/build/ and writes their seed corpora from
# proto-spec/vectors/frames.tsv (see fuzz/README.md):
#
#   fuzz/build/fuzz-swift      Sources/SluiceProtocol + fuzz/swift, swiftc -sanitize=fuzzer,address
#   fuzz/build/fuzz-c-reader   clients/c/src/reader.c + fuzz/c, clang -fsanitize=fuzzer,address,undefined
#   fuzz/build/corpus-swift/   every vector (both directions)
#   fuzz/build/corpus-c/       the s2c vectors
#
# swiftc is called directly, not through SwiftPM: SwiftPM cannot build a libFuzzer
# executable from a library target without changing Package.swift. A target is rebuilt
# only when one of its sources is newer than it. SWIFTC= and CLANG= override the compilers.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/fuzz"
out="$fuzz/build"
mkdir -p "$out"
cd "$root"

say() { printf '[fuzz] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# --- tools -----------------------------------------------------------------------------
swiftc=${SWIFTC:-$(command -v swiftc || true)}
[ -n "$swiftc" ] || die "swiftc not found; put the Swift 6.3 toolchain's usr/bin on PATH"
toolchain_bin=$(dirname "$(readlink -f "$swiftc")")

probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    >"$probe/probe.c"
links_fuzzer() { "$1" -fsanitize=fuzzer,address,undefined "${@:2}" "$probe/probe.c" -o "$probe/probe" 2>/dev/null; }

# The toolchain's own clang ships libFuzzer; a distribution clang may not (Debian's
# needs libclang-rt-dev). Take the first candidate that links a fuzzer.
clang=""
for candidate in ${CLANG:-} "$toolchain_bin/clang" "$(command -v clang || true)"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    if links_fuzzer "$candidate"; then clang=$candidate; break; fi
done
[ -n "$clang" ] || die "no clang that links -fsanitize=fuzzer (tried ${CLANG:-} $toolchain_bin/clang and PATH's clang)"

# lld links the sanitizer runtimes without gold's pages of "cannot export local symbol" noise.
c_ld=() swift_ld=()
if links_fuzzer "$clang" -fuse-ld=lld; then c_ld=(-fuse-ld=lld); fi
if [ -x "$toolchain_bin/ld.lld" ] || command -v ld.lld >/dev/null; then swift_ld=(-use-ld=lld); fi

printf '#include <zstd.h>\n' | "$clang" -E -x c - $(pkg-config --cflags libzstd 2>/dev/null) >/dev/null 2>&1 \
    || die "zstd.h not found; run: bash scripts/bootstrap.sh (installs libzstd-dev)"
zstd_cflags=$(pkg-config --cflags libzstd 2>/dev/null || true)
zstd_libs=$(pkg-config --libs libzstd 2>/dev/null || echo -lzstd)

# True when $1 is missing or older than any of the other paths.
stale() {
    local target=$1; shift
    [ ! -e "$target" ] || [ -n "$(find "$@" -newer "$target" -print -quit)" ]
}

# --- Swift: ServerSession and the client-side decoder ------------------------------------
swift_sources=("$root"/Sources/SluiceProtocol/*.swift "$fuzz/swift/FuzzServerSession.swift")
if stale "$out/fuzz-swift" "${swift_sources[@]}" "$root/Sources/CZstd" "$fuzz/build.sh"; then
    say "building fuzz/build/fuzz-swift"
    xcc=()
    for flag in $zstd_cflags; do xcc+=(-Xcc "$flag"); done
    # One module: the harness sees internal API too. -I on Sources/CZstd finds its
    # module.modulemap, which links zstd.
    # Run from fuzz/build: with -g the driver leaves a .swiftmodule for the debugger in the cwd.
    (cd "$out" && "$swiftc" -swift-version 6 -parse-as-library -O -wmo -g \
        -sanitize=fuzzer,address \
        -module-name SluiceFuzz -module-cache-path "$out/module-cache" \
        -I "$root/Sources/CZstd" "${xcc[@]}" \
        "${swift_sources[@]}" \
        "${swift_ld[@]}" $zstd_libs \
        -o "$out/fuzz-swift")
fi

# --- C: the client's transport-free reader -------------------------------------------------
c_sources=("$fuzz/c/fuzz_reader.c" "$root/clients/c/src/reader.c" "$root/clients/c/src/utf8.c")
if stale "$out/fuzz-c-reader" "${c_sources[@]}" "$root/clients/c/src" "$root/clients/c/include" "$fuzz/build.sh"; then
    say "building fuzz/build/fuzz-c-reader with $clang"
    # The C client's own warning set (clients/c/Makefile).
    "$clang" -std=c11 -g -O1 -fno-omit-frame-pointer \
        -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -I "$root/clients/c/include" -I "$root/clients/c/src" \
        "${c_sources[@]}" "${c_ld[@]}" -o "$out/fuzz-c-reader"
fi

# --- seed corpora ---------------------------------------------------------------------------
python3 "$fuzz/seeds.py" "$root/proto-spec/vectors/frames.tsv" "$out/corpus-swift" "$out/corpus-c"
