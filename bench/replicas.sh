#!/usr/bin/env bash
# Scale-out benchmark (issue 13 item 6): three serve replicas on one
# PostgreSQL against one replica on the same database, same run, same load
# generator (one wrk, THREADS threads, each thread pinned to one replica by
# the Lua setup hook). Reports aggregate GET /secrets/:key and POST /login
# throughput, and who used the CPU meanwhile: the serve processes, this
# database's PostgreSQL backends, wrk, and everything else on the machine,
# as shares of all cores, so what saturates first is read off the numbers.
#
#   bench/replicas.sh                              # database nosana_perf_bench, 10 s per scenario
#   PGURL=postgres://postgres@127.0.0.1:5432 DB=mydb DURATION=20s bench/replicas.sh
#   BIN=/path/to/nosana-secrets bench/replicas.sh  # another build
#   PORT=4620 bench/replicas.sh                    # replicas on PORT, PORT+1, PORT+2
#
# The database DB is dropped and created: give it one of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }
command -v psql >/dev/null || { echo "bench needs psql" >&2; exit 1; }

DURATION=${DURATION:-10s}
CONNS=${CONNS:-48}
THREADS=3 # one per replica; the one-replica run uses as many
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DB=${DB:-nosana_perf_bench}
PORT=${PORT:-4620}
case $DURATION in *m) secs=$((${DURATION%m} * 60)) ;; *s) secs=${DURATION%s} ;; *) secs=$DURATION ;; esac
hz=$(getconf CLK_TCK)
. bench/lib.sh

build_bin
go build -o "$work/benchtool" ./bench/benchtool

psql -q "$PGURL/postgres" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
storage="$PGURL/$DB?sslmode=disable"
master=$(head -c 32 /dev/urandom | base64)

serve=()
for i in 0 1 2; do
  STORAGE_CONNECTION=$storage MASTER_KEY=$master \
  JWT_SECRET=bench-secret-of-at-least-thirty-two-bytes LOG_LEVEL=${LOG_LEVEL:-info} LOG_FORMAT=json \
  RATE_LIMIT_LOGIN_IP=0 RATE_LIMIT_LOGIN_ADDRESS=0 RATE_LIMIT_SECRETS_IP=0 RATE_LIMIT_SECRETS_ADDRESS=0 \
    "$work/nosana-secrets" serve --listen "127.0.0.1:$((PORT + i))" >"$work/serve$i.log" 2>&1 & pids+=($!); serve+=($!)
  wait_port "http://127.0.0.1:$((PORT + i))/livez"
done

# A token from one replica holds on all of them (one JWT_SECRET).
token=$("$work/benchtool" -url "http://127.0.0.1:$PORT" -seed 1000)
"$work/benchtool" -login-body >"$work/login.json"
for i in 0 1 2; do curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$((PORT + i))/secrets/key-500" >/dev/null; done

# lua N POST?: a script whose threads take replicas PORT…PORT+N-1 in turn.
lua() {
  local n=$1 post=${2:-}
  {
    echo "local n, i = $n, 0"
    echo 'setup = function(thread)'
    echo "  thread.addr = wrk.lookup('127.0.0.1', tostring($PORT + i % n))[1]"
    echo '  i = i + 1'
    echo 'end'
    if [ -n "$post" ]; then
      echo 'wrk.method = "POST"'
      echo "wrk.body = io.open('$work/login.json'):read('*a')"
      echo 'wrk.headers["Content-Type"] = "application/json"'
    else
      echo "wrk.headers['Authorization'] = 'Bearer $token'"
    fi
  } >"$work/r$n$post.lua"
  echo "$work/r$n$post.lua"
}

ticks() { local t=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
pg_pids() { psql -qtA "$PGURL/postgres" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$DB'"; }
# cpu_all: busy and total ticks of all cores so far (busy: user nice system irq softirq steal).
cpu_all() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
# child_ticks FILE: CPU ticks of this shell's reaped children (wrk, once it
# ended) as `times`, run in this shell itself, wrote them to FILE.
child_ticks() { awk -v hz="$hz" 'NR == 2 {split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d\n", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * hz}' "$1"; }

# run NAME N [post]: wrk through N replicas; prints a result row.
run() {
  local name=$1 n=$2 post=${3:-} path=/secrets/key-500
  [ -n "$post" ] && path=/login
  local script; script=$(lua "$n" "$post")
  # Warm up: every replica's pool fills.
  wrk -t"$THREADS" -c"$CONNS" -d2s -s "$script" "http://127.0.0.1:$PORT$path" >/dev/null
  local pg; pg=$(pg_pids | tr '\n' ' ')
  local s0 p0 c0 l0; s0=$(ticks "${serve[@]}"); p0=$(ticks $pg); times >"$work/times0"; c0=$(child_ticks "$work/times0"); l0=$(cut -d' ' -f1 /proc/loadavg)
  local b0 t0; read -r b0 t0 < <(cpu_all)
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$script" "http://127.0.0.1:$PORT$path" >"$work/wrk.out"
  local s1 p1 c1 b1 t1; s1=$(ticks "${serve[@]}"); p1=$(ticks $pg); times >"$work/times1"; c1=$(child_ticks "$work/times1"); read -r b1 t1 < <(cpu_all)
  if grep -q Non-2xx "$work/wrk.out"; then echo "non-2xx answers in $name:" >&2; cat "$work/wrk.out" >&2; exit 1; fi
  local rps; rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  awk -v name="$name" -v rps="$rps" -v s=$((s1 - s0)) -v p=$((p1 - p0)) -v w=$((c1 - c0)) -v b=$((b1 - b0)) -v t=$((t1 - t0)) \
      -v ld="$l0" 'BEGIN {
    printf "%-36s %10.0f %7.0f%% %8.0f%% %6.0f%% %6.0f%% %6.0f%% %6s\n", name, rps, 100 * s / t, 100 * p / t, 100 * w / t, 100 * (b - s - p - w) / t, 100 * (t - b) / t, ld
  }'
}

printf '\n%-36s %10s %8s %9s %7s %7s %7s %6s\n' scenario "requests/s" serve postgres wrk other idle load
run "GET /secrets/:key, 1 replica" 1
run "GET /secrets/:key, 3 replicas" 3
run "POST /login (legacy), 1 replica" 1 post
run "POST /login (legacy), 3 replicas" 3 post
echo
echo "CPU columns: shares of all $(nproc) cores during each scenario: serve = the replicas together,"
echo "postgres = this database's backends, wrk = the load generator, other = everything else on the"
echo "machine (other sessions' work included); load = the 1-minute load average at the start."
echo "A legacy login checks a signature and signs a token without touching the database; a GET reads"
echo "PostgreSQL (serve caches nothing on a shared database)."
echo "storage: ${PGURL}/${DB}; wrk -t$THREADS -c$CONNS -d$DURATION; $(nproc) cores"
