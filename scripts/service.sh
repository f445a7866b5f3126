#!/bin/sh
# Runs a built service (services/<name>/dist/main.js, made by scripts/bundle.mjs) as production
# does: plain node with source maps, no tsx. npm start, npm run start:<service> and the Dockerfile
# all come through here, so the runtime settings live in one place. It starts dist/start.js, which
# turns source maps on for the bundle only, after loading the npm packages: node_modules' maps would
# cost every service 1.4–2.0 MB of heap under --enable-source-maps.
#
#   sh scripts/service.sh <name> [arguments of the service]
#
# Memory (docs/benchmarks.md, "Production build and memory"): one malloc arena instead of one per
# thread (glibc keeps each V8 worker thread's freed memory in its own arena: ~100 MB of an idle
# npm start; set MALLOC_ARENA_MAX yourself to override it), and a 2 MB young generation instead
# of V8's up to 16 MB, except for the storage hook, whose ingest spent ~14 % more CPU per reading
# with it (bench/ingest).
set -eu
name="${1:?usage: scripts/service.sh <name> [arguments]}"
shift
dist="$(dirname "$0")/../services/$name/dist"
# start.js is what runs (it loads main.js); a dist/ bundled before start.js existed lacks it.
for file in "$dist/main.js" "$dist/start.js"; do
  if [ ! -f "$file" ]; then
    echo "scripts/service.sh: $file is missing; build it with: npm run bundle" >&2
    exit 2
  fi
done
start="$dist/start.js"
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-1}"
young="--max-semi-space-size=2"
[ "$name" = storage-hook ] && young=""
exec node $young "$start" "$@"
