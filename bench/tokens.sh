#!/usr/bin/env bash
# A/B in one run of one server: GET /secrets/:key with an access token
# (nst_…, issue 23) against the same with a wallet token, in alternating
# rounds of wrk. Prints requests/s of each and their ratio, and serve's
# CPU time per request (user + system, from /proc: other load on the
# machine moves it far less than requests/s); the access token must keep
# at least 95% of the wallet token's throughput.
#
#   bench/tokens.sh                       # sqlite
#   STORAGE=postgres://…/db MASTER_KEY=… bench/tokens.sh
#   BIN=/path/to/nosana-secrets bench/tokens.sh    # another build
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }
URLPATH=${URLPATH:-/secrets/key-500}
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-32}
. bench/lib.sh
PORT=${PORT:-$(free_port)}

build_bin
go build -o "$work/benchtool" ./bench/benchtool
STORAGE_CONNECTION=${STORAGE:-sqlite://$work/db.sqlite} \
JWT_SECRET=bench-secret-of-at-least-thirty-two-bytes LOG_LEVEL=info LOG_FORMAT=json \
RATE_LIMIT_LOGIN_IP=0 RATE_LIMIT_LOGIN_ADDRESS=0 RATE_LIMIT_SECRETS_IP=0 RATE_LIMIT_SECRETS_ADDRESS=0 \
  "$work/nosana-secrets" serve --listen 127.0.0.1:$PORT >"$work/serve.log" 2>&1 & pid=$! pids+=($!)
url=http://127.0.0.1:$PORT
wait_port "$url/livez"
wallet=$("$work/benchtool" -url "$url" -seed 1000)
access=$(curl -fsS -X POST -H "Authorization: Bearer $wallet" -H 'Content-Type: application/json' \
  -d '{"name":"bench","prefix":"key-","ttl":"1h"}' "$url/v1/tokens" | sed -n 's/.*"token":"\(nst_[0-9a-f_]*\)".*/\1/p')
[ -n "$access" ] || { echo "could not mint an access token" >&2; exit 1; }
case $DURATION in *s) secs=${DURATION%s} ;; *) secs=$DURATION ;; esac
hz=$(getconf CLK_TCK)
# rps prints "requests/s µs-of-CPU-per-request".
rps() {
  local t0 t1 x
  t0=$(cpu_ticks "$pid")
  x=$(wrk -t1 -c"$CONNS" -d"$DURATION" -H "Authorization: Bearer $1" "$url$URLPATH" |
    awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non-2xx answers" > "/dev/stderr"; exit 1}')
  t1=$(cpu_ticks "$pid")
  awk -v x="$x" -v d=$((t1 - t0)) -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.0f %.1f", x, d / hz * 1e6 / (x * s)}'
}
rps "$wallet" >/dev/null; rps "$access" >/dev/null # warm up
printf '%-6s %12s %12s %7s %10s %10s\n' round wallet/s access/s ratio wallet-µs access-µs
sw=0 sa=0 cw=0 ca=0
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then w=$(rps "$wallet"); a=$(rps "$access"); else a=$(rps "$access"); w=$(rps "$wallet"); fi
  read -r w wc <<<"$w"; read -r a ac <<<"$a"
  sw=$(awk -v s="$sw" -v x="$w" 'BEGIN {print s + x}') sa=$(awk -v s="$sa" -v x="$a" 'BEGIN {print s + x}')
  cw=$(awk -v s="$cw" -v x="$wc" 'BEGIN {print s + x}') ca=$(awk -v s="$ca" -v x="$ac" 'BEGIN {print s + x}')
  printf '%-6s %12s %12s %7s %10s %10s\n' "$r" "$w" "$a" "$(awk -v a="$a" -v w="$w" 'BEGIN {printf "%.3f", a / w}')" "$wc" "$ac"
done
ratio=$(awk -v a="$sa" -v w="$sw" 'BEGIN {printf "%.3f", a / w}')
printf '%-6s %12.0f %12.0f %7s %10.1f %10.1f\n' all "$(awk -v s="$sw" -v n="$ROUNDS" 'BEGIN {print s / n}')" \
  "$(awk -v s="$sa" -v n="$ROUNDS" 'BEGIN {print s / n}')" "$ratio" \
  "$(awk -v s="$cw" -v n="$ROUNDS" 'BEGIN {print s / n}')" "$(awk -v s="$ca" -v n="$ROUNDS" 'BEGIN {print s / n}')"
echo "path $URLPATH; wrk -t1 -c$CONNS -d$DURATION; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -q 'nst_' "$work/serve.log"; then echo "FAIL: the server's log holds an access token" >&2; exit 1; fi
awk -v r="$ratio" 'BEGIN {exit !(r >= 0.95)}' || { echo "FAIL: access token at $ratio of the wallet token's throughput (want >= 0.95)" >&2; exit 1; }
