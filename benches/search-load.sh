#!/usr/bin/env bash
# Search speed under load: `hotpapers build` on a synthetic archive of N
# digests (default 3,000: the samples in turn, each moved to a new day, as
# benches/build.rs makes them), then `hotpapers serve` answering /search while
# wrk (a second process, C concurrent clients) sends a rotation of queries:
# words, phrases, author: and category: filters, date ranges, an arXiv id,
# a deep page. The anchor, in the same run and on the same server: the
# static front page, a file read from memory. Prints both latency
# distributions and the ratio of their medians.
#
#   benches/search-load.sh [DIGESTS] [SECONDS] [CONNECTIONS]   # default 3000 10 4
#
# Needs wrk (Debian: `apt-get install wrk`). Builds the release binary once.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3000}
SECS=${2:-10}
CONNS=${3:-4}
PORT=${BENCH_PORT:-18098}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER=

cargo build --release --quiet --bin hotpapers
BIN=${CARGO_TARGET_DIR:-target}/release/hotpapers

python3 - "$N" "$WORK/digests" <<'EOF'
import datetime, os, re, sys
n, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(out)
samples = []
for name in sorted(os.listdir("digests")):
    m = re.match(r"(\d{4}-\d{2}-\d{2})", name)
    if m and name.endswith(".md"):
        samples.append((m.group(1), open(os.path.join("digests", name), encoding="utf-8").read()))
start = datetime.date(2015, 1, 1)
for i in range(n):
    old, text = samples[i % len(samples)]
    day = start + datetime.timedelta(days=i)
    text = text.replace(old, day.isoformat())
    text = re.sub(r"(?m)^date:.*$", f"date: {day + datetime.timedelta(days=1)}T08:00:00.Z", text, count=1)
    open(os.path.join(out, f"{day}.md"), "w", encoding="utf-8").write(text)
EOF

export HOTPAPERS_SITE_URL="http://127.0.0.1:$PORT/" HOTPAPERS_SUBSCRIBERS="$WORK/subscribers"
HOTPAPERS_SECRET=$(openssl rand -hex 32)
export HOTPAPERS_SECRET
/usr/bin/time -f "build: %e s, %M KB peak" "$BIN" -q --digests "$WORK/digests" build --out "$WORK/public"
du -sh "$WORK/public/.search" | sed 's/^/index size: /'
"$BIN" -q serve --addr "127.0.0.1:$PORT" --out "$WORK/public" &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
# The first search opens the index.
curl -sf "http://127.0.0.1:$PORT/search?q=warmup" >/dev/null

cat >"$WORK/queries.lua" <<'EOF'
local queries = {
  "/search?q=graph+neural+networks",
  "/search?q=%22language+models%22",
  "/search?q=transformer+category%3Acs.CL",
  "/search?q=author%3Abengio",
  "/search?q=reinforcement+learning+after%3A2018-01-01+before%3A2019-06",
  "/search?q=2102.09544",
  "/search?q=learning&page=7",
  "/search?q=self-supervised+contrastive+representation",
  "/search.json?q=diffusion",
  "/search?q=quantum",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", queries[(i % #queries) + 1])
end
EOF

median_ms() {
    # wrk --latency prints "50%  1.23ms" (or us, s).
    awk '$1=="50%" { v=$2; if (v ~ /us$/) { sub(/us$/,"",v); print v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v } else { sub(/s$/,"",v); print v*1000 } }'
}

echo "== search: $N digests, $CONNS concurrent clients, ${SECS}s"
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$WORK/queries.lua" "http://127.0.0.1:$PORT/" | tee "$WORK/search.txt"
echo "== anchor: the static front page, same server, same clients"
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PORT/" | tee "$WORK/static.txt"
S=$(median_ms <"$WORK/search.txt")
A=$(median_ms <"$WORK/static.txt")
python3 -c "import sys; s,a=float('$S'),float('$A'); print(f'median: search {s:.2f} ms, static page {a:.2f} ms, ratio {s/a:.1f}x')"
