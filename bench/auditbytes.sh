#!/usr/bin/env bash
# Audit bytes of issue 19, A/B in one run: what an owner's audit log takes
# (the sum of its stored events, read from the sqlite file) for
#   - 1,000 reads of one key by one reader, spread evenly over 40 s
#     (goal: at most 60 KB), and
#   - 1,000 writes of one key each (POST /secrets),
# on this build with AUDIT_COALESCE=10s (the default) and =0 (one event per
# 250 ms batch, what every release before it did), and, with BASE_BIN (a
# build from before issue 19), on that build too. The reads of each side
# run at the same time, so the whole run takes about 45 s.
#
#   bench/auditbytes.sh
#   BASE_BIN=/tmp/old/nosana-secrets bench/auditbytes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
READS=${READS:-1000}
EVERY=${EVERY:-40ms}
. bench/lib.sh

go build -o "$work/nosana-secrets" .
go build -o "$work/benchtool" ./bench/benchtool

declare -A port
start() { # NAME BINARY ENV…
  local name=$1 bin=$2
  shift 2
  mkdir -p "$work/$name"
  port[$name]=$(free_port)
  env STORAGE_CONNECTION="sqlite://$work/$name/db.sqlite" "$@" \
    JWT_SECRET="$(head -c 32 /dev/urandom | base64)" LOG_LEVEL=warn \
    RATE_LIMIT_LOGIN_IP=0 RATE_LIMIT_LOGIN_ADDRESS=0 RATE_LIMIT_SECRETS_IP=0 RATE_LIMIT_SECRETS_ADDRESS=0 \
    "$bin" serve --listen "127.0.0.1:${port[$name]}" >"$work/$name/serve.log" 2>&1 &
  pids+=($!)
  wait_port "http://127.0.0.1:${port[$name]}/livez"
}
sides=(coalesce batch)
start coalesce "$work/nosana-secrets" AUDIT_COALESCE=10s
start batch "$work/nosana-secrets" AUDIT_COALESCE=0
if [ -n "${BASE_BIN:-}" ]; then
  cp "$BASE_BIN" "$work/base-bin"
  start base "$work/base-bin"
  sides+=(base)
fi

# audit_bytes NAME: the bytes of every stored audit event of the side.
audit_bytes() {
  python3 - "$work/$1/db.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
n, b = db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM audit_events").fetchone()
print(n, b)
PY
}

declare -A token r0 rn
for s in "${sides[@]}"; do
  token[$s]=$("$work/benchtool" -url "http://127.0.0.1:${port[$s]}" -seed 1)
done
sleep 1 # the seed's events stored
for s in "${sides[@]}"; do r0[$s]=$(audit_bytes "$s"); done
for s in "${sides[@]}"; do
  "$work/benchtool" -url "http://127.0.0.1:${port[$s]}" -get /secrets/key-0 -token "${token[$s]}" -n "$READS" -every "$EVERY" &
done
wait_readers() { for p in $(jobs -p); do case " ${pids[*]} " in *" $p "*) ;; *) wait "$p" ;; esac; done; }
wait_readers
sleep 12 # the last coalescing window closes
for s in "${sides[@]}"; do rn[$s]=$(audit_bytes "$s"); done

declare -A w0 wn
for s in "${sides[@]}"; do
  w0[$s]=$(audit_bytes "$s")
  for i in $(seq 1000); do printf '{"secrets":{"w":"value %d"}}\n' "$i"; done |
    while read -r body; do curl -fsS -o /dev/null -H "Authorization: Bearer ${token[$s]}" -H 'Content-Type: application/json' \
      -d "$body" "http://127.0.0.1:${port[$s]}/secrets"; done
  wn[$s]=$(audit_bytes "$s")
done

printf '\n%-34s %10s %12s %14s\n' side events bytes "bytes/event"
row() { # LABEL "n0 b0" "n1 b1"
  read -r n0 b0 <<<"$2"
  read -r n1 b1 <<<"$3"
  awk -v l="$1" -v n=$((n1 - n0)) -v b=$((b1 - b0)) 'BEGIN {printf "%-34s %10d %12d %14.0f\n", l, n, b, n ? b / n : 0}'
}
for s in "${sides[@]}"; do
  row "$s: $READS reads over $(awk -v n="$READS" -v e="${EVERY%ms}" 'BEGIN {print n * e / 1000}') s" "${r0[$s]}" "${rn[$s]}"
done
for s in "${sides[@]}"; do
  row "$s: 1000 writes" "${w0[$s]}" "${wn[$s]}"
done
