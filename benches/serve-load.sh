#!/usr/bin/env bash
# Load test of `hotpapers serve`: wrk (a second process) polls the Atom feed on
# loopback, once as a feed reader's first fetch (200, brotli body) and once as
# its hourly poll with the feed's ETag in If-None-Match (304). Prints requests
# per second and latency for each.
#
#   benches/serve-load.sh [SECONDS] [CONNECTIONS]     # default 10 64
#
# Needs wrk (Debian: `apt-get install wrk`). Builds the release binary once.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-64}
PORT=${BENCH_PORT:-18099}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release --quiet --bin hotpapers
BIN=${CARGO_TARGET_DIR:-target}/release/hotpapers
export HOTPAPERS_SITE_URL="http://127.0.0.1:$PORT/" HOTPAPERS_SUBSCRIBERS="$WORK/subscribers"
HOTPAPERS_SECRET=$(openssl rand -hex 32)
export HOTPAPERS_SECRET
"$BIN" -q --digests tests/fixtures/corpus build --out "$WORK/public" >/dev/null
"$BIN" -q serve --addr "127.0.0.1:$PORT" --out "$WORK/public" &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

URL="http://127.0.0.1:$PORT/atom.xml"
ETAG=$(curl -sI -H 'Accept-Encoding: br' "$URL" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
SIZE=$(curl -s "$URL" | wc -c)
BR=$(curl -s -H 'Accept-Encoding: br' "$URL" | wc -c)
echo "atom.xml: $SIZE bytes, $BR bytes brotli, ETag $ETAG"
echo "== full fetch (200, Accept-Encoding: br, gzip)"
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -H 'Accept-Encoding: br, gzip' "$URL"
echo "== conditional poll (304, If-None-Match)"
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -H 'Accept-Encoding: br, gzip' -H "If-None-Match: $ETAG" "$URL"
echo "== check: the poll answers 304"
curl -s -o /dev/null -w '%{http_code}\n' -H 'Accept-Encoding: br' -H "If-None-Match: $ETAG" "$URL"
