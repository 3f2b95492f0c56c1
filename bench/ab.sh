#!/usr/bin/env bash
# A/B of several builds in one run: one fresh server per build, the same
# load (wrk) on one path, in alternating rounds, each round opened by the
# bare net/http yardstick. Prints requests/s, the ratio to that round's
# yardstick and serve's CPU time per request (user + system, from /proc),
# the figure that other load moves least.
#
#   bench/ab.sh /tmp/old/nosana-secrets .            # GET /secrets/:key on sqlite
#   URLPATH=/secrets ROUNDS=5 bench/ab.sh old new
#   STORAGES="postgres://…/a postgres://…/b" MASTER_KEY=… bench/ab.sh old new   # one empty store per build
#
# A build is a binary or "." (this tree). Rate limits are off, as in run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }
[ $# -ge 1 ] || { echo "usage: bench/ab.sh BUILD..." >&2; exit 2; }

URLPATH=${URLPATH:-/secrets/key-500}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6s}
CONNS=${CONNS:-32}
PORT=${PORT:-4380} # builds listen from PORT+1 on, the yardstick on PORT
case $DURATION in *s) secs=${DURATION%s} ;; *) secs=$DURATION ;; esac
read -r -a storages <<<"${STORAGES:-}"
. bench/lib.sh

go build -o "$work/baseline" ./bench/baseline
go build -o "$work/benchtool" ./bench/benchtool
rps() { wrk -t1 -c"$CONNS" -d"$DURATION" "$@" | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non-2xx answers" > "/dev/stderr"; exit 1}'; }

"$work/baseline" -listen 127.0.0.1:$PORT & pids+=($!)
wait_port http://127.0.0.1:$PORT/ || exit 1
builds=("$@") serve=() tokens=()
for i in "${!builds[@]}"; do
  b=${builds[$i]} port=$((PORT + 1 + i))
  if [ "$b" = . ]; then go build -o "$work/bin$i" .; else cp "$b" "$work/bin$i"; fi
  STORAGE_CONNECTION=${storages[$i]:-sqlite://$work/db$i.sqlite} \
  JWT_SECRET=bench-secret-of-at-least-thirty-two-bytes LOG_LEVEL=info LOG_FORMAT=json \
  RATE_LIMIT_LOGIN_IP=0 RATE_LIMIT_LOGIN_ADDRESS=0 RATE_LIMIT_SECRETS_IP=0 RATE_LIMIT_SECRETS_ADDRESS=0 \
    "$work/bin$i" serve --listen 127.0.0.1:$port >"$work/serve$i.log" 2>&1 & pids+=($!) serve+=($!)
  wait_port http://127.0.0.1:$port/livez || { tail -3 "$work/serve$i.log" >&2; exit 1; }
  tokens+=("$("$work/benchtool" -url http://127.0.0.1:$port -seed 1000)")
  rps -d2s -H "Authorization: Bearer ${tokens[$i]}" "http://127.0.0.1:$port$URLPATH" >/dev/null # warm up
done

printf '%-8s %12s' round "bare/s"
for b in "${builds[@]}"; do [ "$b" = . ] && b="this tree"; printf ' | %-30s' "$(basename "$b"): /s ratio µs"; done
echo
for r in $(seq "$ROUNDS"); do
  base=$(rps "http://127.0.0.1:$PORT/")
  printf '%-8s %12s' "$r" "$base"
  for i in "${!builds[@]}"; do
    t0=$(cpu_ticks "${serve[$i]}")
    x=$(rps -H "Authorization: Bearer ${tokens[$i]}" "http://127.0.0.1:$((PORT + 1 + i))$URLPATH")
    t1=$(cpu_ticks "${serve[$i]}")
    printf ' | %-30s' "$(awk -v x="$x" -v b="$base" -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s="$secs" \
      'BEGIN {printf "%.0f %.2f %.1f", x, x / b, d / hz * 1e6 / (x * s)}')"
  done
  echo
done
echo "path $URLPATH; wrk -t1 -c$CONNS -d$DURATION; ratio: to the round's yardstick; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
