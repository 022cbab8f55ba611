#!/usr/bin/env bash
# Builds FerretDB from the Go module proxy once per machine (no MongoDB binary is needed),
# with the patches in scripts/ferretdb/ applied (version and cache name: scripts/ferretdb/build.env).
# `go install` alone yields a binary that panics at start because
# build/version/version.txt is missing from the module zip, so we build from a copy.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=ferretdb/build.env
source "$HERE/ferretdb/build.env"
VERSION="$FERRETDB_VERSION"
CACHE_DIR="${FERRETDB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taapit-api}"
BIN="$CACHE_DIR/ferretdb-$VERSION-$FERRETDB_BUILD"

if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "FerretDB is not built yet and Go is not installed: install Go (https://go.dev/dl) or set MONGODB_URI to use an existing MongoDB." >&2
  exit 3
fi

echo "building FerretDB ${VERSION#v} once, about 2 minutes… (cached at $BIN)" >&2
mkdir -p "$CACHE_DIR"
WORK="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
trap 'chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"' EXIT

SRC="$(cd "$WORK" && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "$SRC" || ! -d "$SRC" ]]; then
  echo "could not download the FerretDB $VERSION module source with 'go mod download'" >&2
  exit 4
fi
cp -R "$SRC" "$WORK/src"
chmod -R u+w "$WORK/src"
mkdir -p "$WORK/src/build/version"
printf '%s' "$VERSION" > "$WORK/src/build/version/version.txt"

# Each patch must apply cleanly, or the build stops. git apply is preferred (git is on any machine
# that cloned this repo; patch often is not); GIT_CEILING_DIRECTORIES keeps it from treating a
# repository that happens to contain the cache directory as the base of the patch's paths.
for p in "$HERE"/ferretdb/*.patch; do
  echo "applying $(basename "$p")" >&2
  if command -v git >/dev/null 2>&1; then
    (cd "$WORK/src" && env -u GIT_DIR -u GIT_WORK_TREE GIT_CEILING_DIRECTORIES="$WORK" git apply --verbose "$p") >&2 \
      || { echo "patch $p does not apply to FerretDB $VERSION" >&2; exit 5; }
  elif command -v patch >/dev/null 2>&1; then
    patch -d "$WORK/src" -p1 --forward --batch < "$p" >&2 \
      || { echo "patch $p does not apply to FerretDB $VERSION" >&2; exit 5; }
  else
    echo "neither git nor patch is installed: install git to build FerretDB, or set MONGODB_URI to use an existing MongoDB." >&2
    exit 5
  fi
done

(cd "$WORK/src" && CGO_ENABLED=0 go build -o "$WORK/ferretdb" ./cmd/ferretdb) >&2
mv "$WORK/ferretdb" "$BIN"
echo "built FerretDB ${VERSION#v} ($FERRETDB_BUILD) at $BIN" >&2
echo "$BIN"
