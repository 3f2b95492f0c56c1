#!/usr/bin/env bash
# Load benchmark: nosana-secrets against a bare net/http handler, same load
# generator (wrk) and settings, same run. Prints requests/s, p50/p99, the
# ratio, peak resident memory, and goroutines/fds before and after.
# Rate limits are off here: one client hammering one wallet is what they
# exist to stop.
#
#   bench/run.sh                     # sqlite, 10 s per scenario
#   DURATION=30s CONNS=64 bench/run.sh
#   STORAGE_CONNECTION=postgres://… MASTER_KEY=… bench/run.sh   # another backend
#   BIN=/path/to/nosana-secrets bench/run.sh        # another build (A/B)
#   SRV_PORT=4298 BASE_PORT=4299 bench/run.sh       # beside another run
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }

DURATION=${DURATION:-10s}
case $DURATION in *m) secs=$((${DURATION%m} * 60)) ;; *s) secs=${DURATION%s} ;; *) secs=$DURATION ;; esac
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
# Ports of the server and the bare handler; set them apart when several runs share a machine.
SRV_PORT=${SRV_PORT:-4198}
BASE_PORT=${BASE_PORT:-4199}
. bench/lib.sh

build_bin
go build -o "$work/baseline" ./bench/baseline
go build -o "$work/benchtool" ./bench/benchtool

# wrk_run URL [args…] prints "rps p50 p99".
wrk_run() {
  local url=$1; shift
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url" | awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    /Non-2xx/ {bad=$NF}
    END {if (bad) {print "non-2xx answers: " bad > "/dev/stderr"; exit 1}; printf "%s %s %s\n", rps, p50, p99}'
}
# cpu_ticks PID: user+system CPU time of PID so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# measure NAME URL [args…]: wrk_run into NAME_rps/p50/p99, and NAME_cpu, the
# server's CPU time per request in microseconds: a figure that other load
# on the machine disturbs far less than requests/s.
measure() {
  local name=$1; shift
  local t0 t1 rps p50 p99
  t0=$(cpu_ticks "$serve")
  read -r rps p50 p99 < <(wrk_run "$@")
  t1=$(cpu_ticks "$serve")
  printf -v "${name}_rps" %s "$rps"; printf -v "${name}_p50" %s "$p50"; printf -v "${name}_p99" %s "$p99"
  printf -v "${name}_cpu" %s "$(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v r="$rps" -v s="$secs" \
    'BEGIN {printf "%.0f", d / hz * 1e6 / (r * s)}')"
}
metric() { curl -fsS "http://127.0.0.1:$SRV_PORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }
rss_peak() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status"; }

"$work/baseline" -listen 127.0.0.1:$BASE_PORT & pids+=($!)
wait_port http://127.0.0.1:$BASE_PORT/

STORAGE_CONNECTION=${STORAGE_CONNECTION:-sqlite://$work/bench.sqlite} \
JWT_SECRET=bench-secret-of-at-least-thirty-two-bytes LOG_LEVEL=${LOG_LEVEL:-info} LOG_FORMAT=json \
RATE_LIMIT_LOGIN_IP=0 RATE_LIMIT_LOGIN_ADDRESS=0 RATE_LIMIT_SECRETS_IP=0 RATE_LIMIT_SECRETS_ADDRESS=0 \
  "$work/nosana-secrets" serve --listen 127.0.0.1:$SRV_PORT >"$work/serve.log" 2>&1 & serve=$!; pids+=($serve)
wait_port http://127.0.0.1:$SRV_PORT/livez

token=$("$work/benchtool" -url http://127.0.0.1:$SRV_PORT -seed 1000)
"$work/benchtool" -login-body >"$work/login.json"
cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$work/login.json"):read("*a")
wrk.headers["Content-Type"] = "application/json"
LUA
curl -fsS -H "Authorization: Bearer $token" http://127.0.0.1:$SRV_PORT/secrets/key-500 >/dev/null

# Warm up (connection pools fill, caches load), then measure steady state.
wrk -t"$THREADS" -c"$CONNS" -d2s -H "Authorization: Bearer $token" http://127.0.0.1:$SRV_PORT/secrets/key-500 >/dev/null
g0=$(metric go_goroutines); f0=$(metric process_open_fds)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
read -r base_rps base_p50 base_p99 < <(wrk_run http://127.0.0.1:$BASE_PORT/)
measure get http://127.0.0.1:$SRV_PORT/secrets/key-500 -H "Authorization: Bearer $token"
measure list http://127.0.0.1:$SRV_PORT/secrets -H "Authorization: Bearer $token"
measure prefix "http://127.0.0.1:$SRV_PORT/secrets?prefix=key-50" -H "Authorization: Bearer $token"
measure login http://127.0.0.1:$SRV_PORT/login -s "$work/login.lua"
sleep 1
g1=$(metric go_goroutines); f1=$(metric process_open_fds)
peak=$(rss_peak "$serve")

printf '\n%-34s %12s %10s %10s %12s\n' scenario "requests/s" p50 p99 "CPU µs/req"
printf '%-34s %12s %10s %10s %12s\n' "bare net/http, fixed body" "$base_rps" "$base_p50" "$base_p99" -
printf '%-34s %12s %10s %10s %12s\n' "GET /secrets/:key (1,000 keys)" "$get_rps" "$get_p50" "$get_p99" "$get_cpu"
printf '%-34s %12s %10s %10s %12s\n' "GET /secrets (all 1,000 × 100 B)" "$list_rps" "$list_p50" "$list_p99" "$list_cpu"
printf '%-34s %12s %10s %10s %12s\n' "GET /secrets?prefix= (10 keys)" "$prefix_rps" "$prefix_p50" "$prefix_p99" "$prefix_cpu"
printf '%-34s %12s %10s %10s %12s\n' "POST /login (legacy)" "$login_rps" "$login_p50" "$login_p99" "$login_cpu"
awk -v a="$get_rps" -v b="$base_rps" 'BEGIN {printf "\nGET/baseline ratio: %.2f (goal >= 0.60 on sqlite)\n", a/b}'
echo "listing goals: all >= 2,000/s on sqlite, >= 1,000/s on Redis and PostgreSQL; prefix >= 20,000/s on sqlite"
echo "peak RSS of serve: ${peak} MiB (goal < 60)"
echo "goroutines after warm-up / after load: $g0 / $g1; open fds: $f0 / $f1 (bounded by the connection pools)"
echo "CPU µs/req: serve's user+system time per answer (less disturbed by other load than requests/s)"
echo "load average before / after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)"
storage=${STORAGE_CONNECTION:-sqlite}
echo "storage: ${storage%%\?*}; wrk -t$THREADS -c$CONNS -d$DURATION; $(nproc) cores"
