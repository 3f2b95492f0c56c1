#!/usr/bin/env bash
# Instructions per request, a figure other load on the machine does not
# change: serve runs under valgrind's callgrind, and after a warm-up the
# user-space instructions it executes for exactly N requests of a path are
# counted (GC and every goroutine included; the kernel's work is not).
# Builds alternate in one run; pass several to compare (A/B).
#
#   bench/instructions.sh                          # this tree: GET, listing, prefix listing
#   BINS="/tmp/old/nosana-secrets ." bench/instructions.sh
#   STORAGE_CONNECTION=postgres://… MASTER_KEY=… bench/instructions.sh
#   PATHS="/secrets" N=400 bench/instructions.sh
#   PATHS="PUT:key-put" HISTORY=true bench/instructions.sh   # writes (POST /secrets) of one key
#   ROUNDS=3 BINS="/tmp/old/nosana-secrets ." bench/instructions.sh   # each figure 3 times
#
# Timers (GC pacing, the audit batch, caches' refresh) run by the clock,
# and valgrind's slowdown varies with the machine's load, so one figure can
# move by a few percent between runs of the same build: compare medians of
# ROUNDS, builds alternating within each round.
#
# HISTORY=false by default: the audit batch is flushed on a timer, and
# under valgrind's slowdown its share per request would be far above what
# it is at full speed. HISTORY=true measures it anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind: apt-get install valgrind" >&2; exit 1; }
# Debian 12's valgrind 3.19 does not decode RDTSCP, which Go 1.26's
# runtime.cputicks executes where the CPU has it: GODEBUG=cpu.rdtscp=off
# below makes the runtime take its RDTSC path instead. asyncpreemptoff
# spares callgrind the preemption signals it asserts on.

BINS=${BINS:-.}
PATHS=${PATHS:-/secrets/key-500 /secrets /secrets?prefix=key-50}
N=${N:-}
. bench/lib.sh
PORT=${PORT:-$(free_port)}

go build -o "$work/benchtool" ./bench/benchtool
i=0
for b in $BINS; do
  i=$((i + 1))
  if [ "$b" = . ]; then go build -o "$work/bin$i" .; else cp "$b" "$work/bin$i"; fi
done

# died says why valgrind stopped the server, then fails.
died() {
  grep -q 'unhandled instruction bytes' "$d/valgrind.log" &&
    echo "valgrind met an instruction it does not decode (GODEBUG=cpu.rdtscp=off did not spare it):" >&2
  tail -20 "$d/valgrind.log" >&2
  exit 1
}
# wait_slow is wait_port with the two minutes a server under valgrind may
# take to start; it fails (for died) rather than exit.
wait_slow() { for _ in $(seq 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done; echo "no answer at $1" >&2; return 1; }
printf '%-28s %-40s %16s\n' path build "instructions/req"
for round in $(seq "${ROUNDS:-1}"); do
for path in $PATHS; do
  n=${N:-$(case $path in /secrets) echo 400 ;; PUT:*) echo 1000 ;; *) echo 4000 ;; esac)}
  case $path in PUT:*) load=(-put "${path#PUT:}") ;; *) load=(-get "$path") ;; esac
  i=0
  for b in $BINS; do
    i=$((i + 1))
    d="$work/run$i"
    rm -rf "$d" && mkdir -p "$d"
    storage=${STORAGE_CONNECTION:-sqlite://$d/db.sqlite}
    case $storage in redis*) redis-cli -u "$storage" flushdb >/dev/null ;; esac
    STORAGE_CONNECTION=$storage JWT_SECRET=bench-secret-of-at-least-thirty-two-bytes LOG_LEVEL=info LOG_FORMAT=json \
    HISTORY=${HISTORY:-false} RATE_LIMIT_LOGIN_IP=0 RATE_LIMIT_LOGIN_ADDRESS=0 RATE_LIMIT_SECRETS_IP=0 RATE_LIMIT_SECRETS_ADDRESS=0 \
    GOMAXPROCS=2 GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off \
      valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$d/cg.out" \
        "$work/bin$i" serve --listen 127.0.0.1:$PORT >"$d/serve.log" 2>"$d/valgrind.log" &
    vpid=$! pids+=($!)
    wait_slow http://127.0.0.1:$PORT/livez || died
    token=$("$work/benchtool" -url http://127.0.0.1:$PORT -seed 1000) || died
    "$work/benchtool" -url http://127.0.0.1:$PORT "${load[@]}" -token "$token" -n $((n / 10 + 20)) || died # warm up
    callgrind_control -i on $vpid >/dev/null 2>&1
    "$work/benchtool" -url http://127.0.0.1:$PORT "${load[@]}" -token "$token" -n "$n" || died
    callgrind_control -i off $vpid >/dev/null 2>&1
    callgrind_control -d $vpid >/dev/null 2>&1
    kill $vpid; wait $vpid 2>/dev/null || true
    total=$(cat "$d"/cg.out.* | awk '/^totals:/ {t += $2} END {print t + 0}')
    printf '%-28s %-40s %16d\n' "$path" "$b" $((total / n))
  done
done
done
storage=${STORAGE_CONNECTION:-sqlite}
echo "storage: ${storage%%\?*}; HISTORY=${HISTORY:-false}; user-space instructions of serve (callgrind), warm-up excluded"
