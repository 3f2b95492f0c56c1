#!/usr/bin/env bash
# A/B of issue 11 in one run: the same build, the same sqlite setup and the
# same load (wrk), once with HISTORY=true (versions kept, every request
# audited) and once with HISTORY=false. Prints requests/s, p50/p99 and the
# ratios the issue sets: GET /secrets/:key with auditing >= 0.90 of
# without; a write with history >= 0.80 of one without.
#
#   bench/history.sh                       # 10 s per scenario
#   DURATION=30s CONNS=64 bench/history.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }

DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

if [ -n "${BIN:-}" ]; then cp "$BIN" "$work/nosana-secrets"; else go build -o "$work/nosana-secrets" .; fi
go build -o "$work/benchtool" ./bench/benchtool

wait_port() { for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "no answer at $1" >&2; exit 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wrk_run() {
  local url=$1; shift
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url" | awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    /Non-2xx/ {bad=$NF}
    END {if (bad) {print "non-2xx answers: " bad > "/dev/stderr"; exit 1}; printf "%s %s %s\n", rps, p50, p99}'
}

# start NAME PORT HISTORY: a server on its own sqlite file.
start() {
  mkdir -p "$work/$1"
  STORAGE_CONNECTION="sqlite://$work/$1/db.sqlite" HISTORY=$3 \
  JWT_SECRET=bench-secret-bench-secret-bench-secret LOG_LEVEL=${LOG_LEVEL:-info} LOG_FORMAT=json \
  RATE_LIMIT_LOGIN_IP=0 RATE_LIMIT_LOGIN_ADDRESS=0 RATE_LIMIT_SECRETS_IP=0 RATE_LIMIT_SECRETS_ADDRESS=0 \
    "$work/nosana-secrets" serve --listen "127.0.0.1:$2" >"$work/$1/serve.log" 2>&1 & pids+=($!)
  echo $! >"$work/$1/pid"
  wait_port "http://127.0.0.1:$2/livez"
}
start off 4196 false
start on 4197 true

for side in off:4196 on:4197; do
  name=${side%%:*} port=${side##*:}
  token=$("$work/benchtool" -url "http://127.0.0.1:$port" -seed 1000)
  echo "$token" >"$work/$name/token"
  cat >"$work/$name/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"secrets":{"w-' .. (n % 100) .. '":"a value of some forty bytes, like a key"}}')
end
LUA
  cat >"$work/$name/put.lua" <<LUA
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/secrets/p-" .. (n % 100), nil, '{"value":"a value of some forty bytes, like a key"}')
end
LUA
  # Warm up both the same way.
  wrk -t"$THREADS" -c"$CONNS" -d2s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/secrets/key-500" >/dev/null
done

declare -A r
for name in off on; do
  port=4196; [ "$name" = on ] && port=4197
  token=$(cat "$work/$name/token")
  t0=$(cpu_ticks "$(cat "$work/$name/pid")")
  r[get_$name]=$(wrk_run "http://127.0.0.1:$port/secrets/key-500" -H "Authorization: Bearer $token")
  r[getcpu_$name]=$(($(cpu_ticks "$(cat "$work/$name/pid")") - t0))
  r[post_$name]=$(wrk_run "http://127.0.0.1:$port/secrets" -s "$work/$name/post.lua")
done
r[put_on]=$(wrk_run "http://127.0.0.1:4197/v1/secrets/p-0" -s "$work/on/put.lua")

printf '\n%-46s %12s %10s %10s\n' scenario "requests/s" p50 p99
row() { read -r rps p50 p99 <<<"$2"; printf '%-46s %12s %10s %10s\n' "$1" "$rps" "$p50" "$p99"; }
row "GET /secrets/:key, HISTORY=false" "${r[get_off]}"
row "GET /secrets/:key, HISTORY=true (audited)" "${r[get_on]}"
row "POST /secrets (1 key), HISTORY=false" "${r[post_off]}"
row "POST /secrets (1 key), HISTORY=true" "${r[post_on]}"
row "PUT /v1/secrets/:key, HISTORY=true" "${r[put_on]}"
ratio() { awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN {printf "%.2f", a/b}'; }
echo
echo "GET audited / not:          $(ratio "${r[get_on]}" "${r[get_off]}") (goal >= 0.90)"
# Serve's CPU per GET, which other load on the machine disturbs far less than requests/s.
cpu_us() { awk -v d="$1" -v r="${2%% *}" -v hz="$(getconf CLK_TCK)" -v s="${DURATION%s}" 'BEGIN {printf "%.0f", d / hz * 1e6 / (r * s)}'; }
echo "GET serve CPU µs/req, not / audited: $(cpu_us "${r[getcpu_off]}" "${r[get_off]}") / $(cpu_us "${r[getcpu_on]}" "${r[get_on]}")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "POST with history / without: $(ratio "${r[post_on]}" "${r[post_off]}") (goal >= 0.80)"
echo "PUT v1 / POST without:       $(ratio "${r[put_on]}" "${r[post_off]}") (goal >= 0.80)"
echo "storage: sqlite; wrk -t$THREADS -c$CONNS -d$DURATION; $(nproc) cores"
