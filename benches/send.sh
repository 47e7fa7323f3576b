#!/usr/bin/env bash
# Sending benchmark: one day's personalized email to N subscribers through a
# local SMTP sink (Postfix's smtp-sink), compared in the same run with
# Postfix's smtp-source blasting messages of the same size over the same
# number of connections. Reports messages per second and peak memory (max RSS).
#
#   benches/send.sh [N] [CONNECTIONS]      # default 10000 4
#   DKIM=1 benches/send.sh 5000 4          # every message signed, RSA-2048
#   DKIM=ed25519 benches/send.sh 5000 4    # every message signed, Ed25519
#   STORE=postgres benches/send.sh 5000 4  # then the same with subscribers and
#                                          # ledger in a throwaway PostgreSQL
#                                          # (tests/support/postgres.sh), and the
#                                          # ratio of the two paths
#   STORE=postgres WORKERS=3 benches/send.sh 5000 4
#                                          # and then the same edition again, sent
#                                          # by 3 workers at once (each with
#                                          # CONNECTIONS connections): their
#                                          # combined rate and each one's memory
#   STORE=postgres ONLY_PG=1 LIMIT=100000 benches/send.sh 1000000 4
#                                          # skip the file path; send LIMIT of N
#                                          # readers in the database
#
# Needs: Postfix's smtp-sink and smtp-source (Debian: `apt-get install postfix`),
# GNU time at /usr/bin/time, openssl (for DKIM). Builds the release binary once.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
CONNS=${2:-4}
PORT=${BENCH_PORT:-2599}
# A fixed secret with the 256 bits of entropy `send` over SMTP insists on.
SECRET=4f1c0e7a9b2d3c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6
WORK=$(mktemp -d)
chmod 755 "$WORK"
trap 'kill $SINK 2>/dev/null || true; bash tests/support/postgres.sh stop "$WORK/pg" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/hotpapers

python3 - "$N" > "$WORK/subscribers.yaml" <<'PY'
import sys
cats = [[], ["cs.LG"], ["cs.CV", "cs.CL"], ["stat.ML"], ["quant-ph"]]
for i in range(int(sys.argv[1])):
    print(f"- email: reader{i}@example.org")
    print(f"  name: Reader {i}")
    c = cats[i % len(cats)]
    if c:
        print("  categories: [" + ", ".join(c) + "]")
PY

# A fresh signing key; smtp-source's messages are as large as the signed ones.
DKIM_ENV=()
case "${DKIM:-}" in
  "" | 0) ;;
  ed25519) openssl genpkey -algorithm ed25519 -out "$WORK/dkim.pem" 2>/dev/null
           DKIM_ENV=(HOTPAPERS_DKIM_KEY="$WORK/dkim.pem") ;;
  *) openssl genrsa -out "$WORK/dkim.pem" 2048 2>/dev/null
     DKIM_ENV=(HOTPAPERS_DKIM_KEY="$WORK/dkim.pem") ;;
esac
[ ${#DKIM_ENV[@]} -gt 0 ] && echo "== DKIM signing: $(head -1 "$WORK/dkim.pem")"

SINK_USER=()
[ "$(id -u)" = 0 ] && SINK_USER=(-u nobody)
smtp-sink "${SINK_USER[@]}" 127.0.0.1:$PORT 1024 &
SINK=$!
sleep 0.5

# One message to learn the size of a typical email.
env "${DKIM_ENV[@]}" HOTPAPERS_OUTBOX="$WORK/sample" HOTPAPERS_STATE="$WORK/sample.db" HOTPAPERS_SUBSCRIBERS="$WORK/subscribers.yaml" \
  "$BIN" -q send --date 2021-02-12 --limit 1 > /dev/null
SIZE=$(stat -c %s "$WORK"/sample/*.eml | head -1)

echo "== smtp-source: $N messages of $SIZE bytes over $CONNS connections"
START=$(date +%s.%N)
smtp-source -s "$CONNS" -l "$SIZE" -m "$N" -f digest@example.org -t reader@example.org 127.0.0.1:$PORT
END=$(date +%s.%N)
RAW=$(python3 -c "print(f'{$N/($END-$START):.0f}')")
echo "smtp-source: $RAW msgs/s"

LIMIT_ARGS=()
[ -n "${LIMIT:-}" ] && LIMIT_ARGS=(--limit "$LIMIT")
if [ -z "${ONLY_PG:-}" ]; then
echo "== hotpapers send: $N subscribers over $CONNS connections"
env "${DKIM_ENV[@]}" HOTPAPERS_SMTP_URL=smtp://127.0.0.1:$PORT HOTPAPERS_SECRET=$SECRET \
HOTPAPERS_CONNECTIONS=$CONNS HOTPAPERS_STATE="$WORK/state.db" HOTPAPERS_SUBSCRIBERS="$WORK/subscribers.yaml" \
  /usr/bin/time -v "$BIN" -q send --date 2021-02-12 "${LIMIT_ARGS[@]}" 2> "$WORK/time.txt" | tee "$WORK/summary.txt"
grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$WORK/time.txt"
RATE=$(sed -E 's/.*\(([0-9.]+) msgs\/s\).*/\1/;q' "$WORK/summary.txt")
python3 -c "print(f'hotpapers: {$RATE:.0f} msgs/s = {100*$RATE/$RAW:.0f}% of smtp-source')"
fi

if [ "${STORE:-}" = postgres ]; then
  bash tests/support/postgres.sh start "$WORK/pg" 2>/dev/null
  DB_URL=$(sed -n 's/^DATABASE_URL=//p' "$WORK/pg/env")
  HOTPAPERS_DATABASE_URL=$DB_URL "$BIN" -q db migrate > /dev/null
  HOTPAPERS_DATABASE_URL=$DB_URL "$BIN" -q subscribers import "$WORK/subscribers.yaml" > /dev/null
  echo "== hotpapers send, subscribers and ledger in PostgreSQL: $N subscribers over $CONNS connections"
  env "${DKIM_ENV[@]}" HOTPAPERS_SMTP_URL=smtp://127.0.0.1:$PORT HOTPAPERS_SECRET=$SECRET \
  HOTPAPERS_CONNECTIONS=$CONNS HOTPAPERS_DATABASE_URL=$DB_URL \
    /usr/bin/time -v "$BIN" -q send --date 2021-02-12 "${LIMIT_ARGS[@]}" 2> "$WORK/time-pg.txt" | tee "$WORK/summary-pg.txt"
  grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$WORK/time-pg.txt"
  PG_RATE=$(sed -E 's/.*\(([0-9.]+) msgs\/s\).*/\1/;q' "$WORK/summary-pg.txt")
  if [ -z "${ONLY_PG:-}" ]; then
    python3 -c "print(f'hotpapers on PostgreSQL: {$PG_RATE:.0f} msgs/s = {100*$PG_RATE/$RAW:.0f}% of smtp-source, {100*$PG_RATE/$RATE:.0f}% of the SQLite path')"
  else
    python3 -c "print(f'hotpapers on PostgreSQL: {$PG_RATE:.0f} msgs/s = {100*$PG_RATE/$RAW:.0f}% of smtp-source')"
  fi

  if [ -n "${WORKERS:-}" ]; then
    # The same edition again from scratch, by WORKERS senders at once.
    PSQL=(psql "$DB_URL" -q -v ON_ERROR_STOP=1)
    "${PSQL[@]}" -c "TRUNCATE deliveries, editions"
    echo "== $WORKERS workers at once, each over $CONNS connections"
    START=$(date +%s.%N)
    PIDS=()
    for w in $(seq "$WORKERS"); do
      env "${DKIM_ENV[@]}" HOTPAPERS_SMTP_URL=smtp://127.0.0.1:$PORT HOTPAPERS_SECRET=$SECRET \
      HOTPAPERS_CONNECTIONS=$CONNS HOTPAPERS_DATABASE_URL=$DB_URL \
        /usr/bin/time -v "$BIN" -q send --date 2021-02-12 "${LIMIT_ARGS[@]}" 2> "$WORK/time-w$w.txt" > "$WORK/summary-w$w.txt" &
      PIDS+=($!)
    done
    wait "${PIDS[@]}" || true
    END=$(date +%s.%N)
    for w in $(seq "$WORKERS"); do
      echo "worker $w: $(head -1 "$WORK/summary-w$w.txt" | sed -E 's/^[^:]*: //'), $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time-w$w.txt") KB max RSS"
    done
    SENT=$("${PSQL[@]}" -tA -c "SELECT count(*) FROM deliveries WHERE day = '2021-02-12' AND state IN ('sent', 'skipped')")
    python3 -c "r = $SENT/($END-$START); print(f'{$WORKERS} workers: {$SENT} readers in {$END-$START:.1f} s = {r:.0f} msgs/s = {100*r/$RAW:.0f}% of smtp-source, {100*r/$PG_RATE:.0f}% of one worker')"
  fi
fi
