#!/usr/bin/env bash
# Build the OCI runtime validation suite (opencontainers/runtime-tools validation/) offline, once,
# into a cache outside the repository: the upstream source is never part of ocimux.
#
# Needs: Debian's golang-go (Go 1.19; commit 260e151 is the last whose go.mod says go 1.19),
# make, tar, and the upstream source as a git directory holding that commit. CI reaches no code
# host, so the source comes from a local mirror: $RUNTIME_TOOLS_GIT, else the search tool's
# mirror at /work/.mirror/opencontainers+runtime-tools/repo. With neither (and no cache) it
# says so and exits 0: the pytest module then skips with that reason.
#
# Result: $OCI_VALIDATION_DIR (default /var/cache/ocimux-validation/260e151) holding
# runtimetest, rootfs-amd64.tar.gz and validation/*/*.t; the programs run with that as cwd.
set -euo pipefail

commit=260e151
cache=${OCI_VALIDATION_DIR:-/var/cache/ocimux-validation/$commit}
source_git=${RUNTIME_TOOLS_GIT:-/work/.mirror/opencontainers+runtime-tools/repo}

if [ -f "$cache/.built" ]; then
    echo "validation suite: cached at $cache"
    exit 0
fi
if ! git --git-dir="$source_git" cat-file -e "$commit^{commit}" 2>/dev/null; then
    echo "validation suite: not built (no runtime-tools source with $commit at $source_git; set RUNTIME_TOOLS_GIT)"
    exit 0
fi
if ! command -v go >/dev/null; then
    echo "validation suite: not built (no go; apt-get install golang-go)" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git --git-dir="$source_git" archive "$commit" | tar -x -C "$work"

# offline: vendored modules only, no proxy, no toolchain download; one package at a time
# (a 2-CPU machine shared with others)
export GOFLAGS="-mod=vendor -p=1" GOPROXY=off GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=1
export GOCACHE="${GOCACHE:-/var/cache/ocimux-validation/go-build}"
start=$(date +%s)
make -C "$work" -j1 COMMIT="$commit" runtimetest validation-executables >"$work/build.log" 2>&1 || {
    tail -30 "$work/build.log" >&2
    exit 1
}

staging="$cache.tmp"
rm -rf "$staging" && mkdir -p "$staging"
cp "$work/runtimetest" "$work/rootfs-amd64.tar.gz" "$staging/"
(cd "$work" && find validation -name '*.t' -print0 | tar -c --null -T -) | tar -x -C "$staging"
echo "$commit" >"$staging/.built"
rm -rf "$cache" && mv "$staging" "$cache"
count=$(find "$cache/validation" -name '*.t' | wc -l)
echo "validation suite: built $count programs at $cache in $(($(date +%s) - start)) s"
