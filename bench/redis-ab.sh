#!/usr/bin/env bash
# A/B of the Redis listing (issue 9 item 9) in one run: two builds against
# one Redis (a database number each), the bare net/http handler beside
# them, the same wrk load, alternating A, B, A, B… so a machine that other
# work loads treats both alike. Prints requests/s of GET /secrets (1,000
# secrets of 100 B) and GET /secrets/:key, each against the bare handler,
# and for listings the CPU time each one costs the server and Redis (from
# /proc: what a loaded machine changes least).
#
#   BIN_A=/path/to/old-build bench/redis-ab.sh      # B is this tree
#   REDIS=redis://127.0.0.1:6412 ROUNDS=3 DURATION=10s bench/redis-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }
: "${BIN_A:?set BIN_A to the build to compare against (e.g. one built from main)}"

REDIS=${REDIS:-redis://127.0.0.1:6379}
DB_A=${DB_A:-14}
DB_B=${DB_B:-15}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-2}
PORT=${PORT:-4510} # PORT (bare), PORT+1 (A), PORT+2 (B)
. bench/lib.sh

cp "$BIN_A" "$work/a"
go build -o "$work/b" .
go build -o "$work/baseline" ./bench/baseline
go build -o "$work/benchtool" ./bench/benchtool
key=$(head -c32 /dev/urandom | base64)

rps() { # URL [wrk args…]
  local url=$1; shift
  wrk -t1 -c"$CONNS" -d"$DURATION" "$@" "$url" | awk '/Requests\/sec/ {rps=$2} /Non-2xx/ {bad=$NF}
    END {if (bad) {print "non-2xx answers: " bad > "/dev/stderr"; exit 1}; print rps}'
}

"$work/baseline" -listen 127.0.0.1:$PORT & pids+=($!)
wait_port http://127.0.0.1:$PORT/
declare -A tok spid
redis_pid=$(redis-cli -u "$REDIS" info server | awk -F: '/^process_id/ {print $2+0}')
for side in a b; do
  if [ $side = a ]; then port=$((PORT + 1)) db=$DB_A; else port=$((PORT + 2)) db=$DB_B; fi
  redis-cli -u "$REDIS/$db" flushdb >/dev/null
  STORAGE_CONNECTION="$REDIS/$db" MASTER_KEY=$key JWT_SECRET=bench-secret-of-at-least-thirty-two-bytes \
  LOG_LEVEL=${LOG_LEVEL:-info} LOG_FORMAT=json \
  RATE_LIMIT_LOGIN_IP=0 RATE_LIMIT_LOGIN_ADDRESS=0 RATE_LIMIT_SECRETS_IP=0 RATE_LIMIT_SECRETS_ADDRESS=0 \
    "$work/$side" serve --listen 127.0.0.1:$port >"$work/$side.log" 2>&1 & pids+=($!)
  spid[$side]=$!
  wait_port http://127.0.0.1:$port/livez
  tok[$side]=$("$work/benchtool" -url http://127.0.0.1:$port -seed 1000)
  wrk -t1 -c"$CONNS" -d2s -H "Authorization: Bearer ${tok[$side]}" http://127.0.0.1:$port/secrets >/dev/null # warm up
done

printf '%-6s %-34s %12s %10s  %s\n' round scenario requests/s "/bare" "CPU ms per listing: server, redis"
for r in $(seq "$ROUNDS"); do
  bare=$(rps http://127.0.0.1:$PORT/)
  printf '%-6s %-34s %12s\n' "$r" "bare net/http" "$bare"
  for what in list get; do
    for side in a b; do
      if [ $side = a ]; then port=$((PORT + 1)); else port=$((PORT + 2)); fi
      if [ $what = list ]; then path=/secrets; label="GET /secrets (1,000 × 100 B)"; else path=/secrets/key-500; label="GET /secrets/:key"; fi
      s0=$(cpu_ticks "${spid[$side]}"); r0=$(cpu_ticks "$redis_pid")
      n=$(rps "http://127.0.0.1:$port$path" -H "Authorization: Bearer ${tok[$side]}")
      s1=$(cpu_ticks "${spid[$side]}"); r1=$(cpu_ticks "$redis_pid")
      extra=""
      if [ $what = list ]; then
        extra=$(awk -v n="$n" -v d="${DURATION%s}" -v s=$((s1 - s0)) -v q=$((r1 - r0)) 'BEGIN {printf "%.2f, %.2f", s * 10 / (n * d), q * 10 / (n * d)}')
      fi
      printf '%-6s %-34s %12s %10.4f  %s\n' "$r" "$side: $label" "$n" "$(awk -v a="$n" -v b="$bare" 'BEGIN {print a/b}')" "$extra"
    done
  done
done
echo "A: $BIN_A; B: this tree ($(git rev-parse --short HEAD)); $REDIS dbs $DB_A/$DB_B; wrk -t1 -c$CONNS -d$DURATION; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "goal: GET /secrets >= 1,000/s on Redis"
