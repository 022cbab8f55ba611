#!/usr/bin/env bash
# Builds FerretDB 1.24.2 from the Go module proxy once per machine (no MongoDB binary is needed).
# `go install` alone yields a binary that panics at start because
# build/version/version.txt is missing from the module zip, so we build from a copy.
set -euo pipefail

VERSION="v1.24.2"
CACHE_DIR="${FERRETDB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taapit-api}"
BIN="$CACHE_DIR/ferretdb-$VERSION"

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
(cd "$WORK/src" && CGO_ENABLED=0 go build -o "$WORK/ferretdb" ./cmd/ferretdb) >&2
mv "$WORK/ferretdb" "$BIN"
echo "built FerretDB ${VERSION#v} at $BIN" >&2
echo "$BIN"
