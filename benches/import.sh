#!/usr/bin/env bash
# Import benchmark: `hotpapers subscribers import` of a large CSV into
# PostgreSQL, with PostgreSQL's own `\copy` of the same file into a bare
# table as the anchor in the same run.
#
#   benches/import.sh [N]        # default 200000 rows
#
# Starts a throwaway cluster (tests/support/postgres.sh), writes N rows
# (`email,name,categories`, one in fifty with two categories), runs
# `db migrate`, then times with GNU time (wall seconds, peak RSS):
#
#   1. `hotpapers subscribers import FILE.csv` into the empty database;
#   2. the same import again (every row already present: nothing added);
#   3. psql's `\copy` of the file into a table of three text columns: the
#      floor of what COPY itself costs on this machine.
#
# It prints rows per second and the ratios to the anchor. Needs
# PostgreSQL (`tests/support/postgres.sh install`) and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
WORK=$(mktemp -d /tmp/hotpapers-import-bench.XXXXXX)
chmod 755 "$WORK"
trap 'bash tests/support/postgres.sh stop "$WORK/pg" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=${CARGO_TARGET_DIR:-target}/release/hotpapers
fi
bash tests/support/postgres.sh start "$WORK/pg" 2>/dev/null
URL=$(sed -n 's/^DATABASE_URL=//p' "$WORK/pg/env")

python3 - "$N" "$WORK/list.csv" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
cats = ["cs.LG", "cs.CV", "cs.CL", "stat.ML", "quant-ph"]
with open(path, "w") as f:
    f.write("email,name,categories\n")
    for i in range(n):
        c = cats[i % 5] + (" " + cats[(i + 1) % 5] if i % 50 == 0 else "")
        f.write(f"reader{i}@example{i % 97}.org,Reader {i},{c}\n")
PY

export HOTPAPERS_DATABASE_URL="$URL"
"$BIN" db migrate >/dev/null

timed() { # label, command...
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out"; exit 1; }
    read -r secs kb <"$WORK/time"
    printf '%s %s %s\n' "$label" "$secs" "$kb"
}

first=$(timed first "$BIN" subscribers import "$WORK/list.csv")
tail -1 "$WORK/out"
again=$(timed again "$BIN" subscribers import "$WORK/list.csv")
tail -1 "$WORK/out"
PGPASSWORD=$(cat "$WORK/pg/password") psql -q "$URL" -c "CREATE TABLE bare (email text, name text, categories text)"
anchor=$(timed anchor psql -q "$URL" -c "\\copy bare FROM '$WORK/list.csv' WITH (FORMAT csv, HEADER true)")

python3 - "$N" "$first" "$again" "$anchor" <<'PY'
import sys
n = int(sys.argv[1])
rows = [a.split() for a in sys.argv[2:]]
anchor = float(rows[2][1])
for label, secs, kb in rows:
    secs = float(secs)
    print(f"{label:>7}: {secs:6.2f} s  {n / secs:>9,.0f} rows/s  peak {int(kb) / 1024:6.1f} MB  "
          f"({secs / anchor:4.1f}x the time of psql \\copy)")
PY
