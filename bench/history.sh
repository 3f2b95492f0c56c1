#!/usr/bin/env bash
# A/B of issue 11 in one run: the same build, the same sqlite setup and the
# same load (wrk), once with HISTORY=true (versions kept, every request
# audited) and once with HISTORY=false. Prints requests/s, p50/p99 and the
# ratios the issue sets: GET /secrets/:key with auditing >= 0.90 of
# without; a write with history >= 0.80 of one without. A third server,
# HISTORY=true with QUOTA_SECRETS=0 QUOTA_BYTES=0, gives what the quota
# check costs a PUT; with BASE_BIN (another build, e.g. one from before
# quotas) two more servers give what counting costs, against that build.
# Beside requests/s it prints the server's CPU time per request (user +
# system, from /proc), which the load of other processes moves far less.
#
#   bench/history.sh                       # 10 s per scenario, one round
#   DURATION=30s CONNS=64 ROUNDS=3 bench/history.sh   # rounds alternate the order
#   BASE_BIN=/tmp/old/nosana-secrets bench/history.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }

DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-1}
. bench/lib.sh

build_bin
go build -o "$work/benchtool" ./bench/benchtool

tick_us=$((1000000 / $(getconf CLK_TCK)))
# wrk_run PID URL ARGS…: requests/s, p50, p99 and the server's CPU µs per request.
wrk_run() {
  local pid=$1 url=$2; shift 2
  local before out
  before=$(cpu_ticks "$pid")
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url")
  awk -v ticks=$(($(cpu_ticks "$pid") - before)) -v us="$tick_us" '
    /Requests\/sec/ {rps=$2}
    / requests in / {n=$1}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    /Non-2xx/ {bad=$NF}
    END {if (bad) {print "non-2xx answers: " bad > "/dev/stderr"; exit 1}; printf "%s %s %s %.0f\n", rps, p50, p99, ticks * us / n}' <<<"$out"
}

declare -A port pid
# start NAME BINARY ENV…: a server on its own sqlite file.
start() {
  local name=$1 bin=$2
  shift 2
  mkdir -p "$work/$name"
  port[$name]=$(free_port)
  env STORAGE_CONNECTION="sqlite://$work/$name/db.sqlite" "$@" \
    JWT_SECRET=bench-secret-of-at-least-thirty-two-bytes LOG_LEVEL=${LOG_LEVEL:-info} LOG_FORMAT=json \
    RATE_LIMIT_LOGIN_IP=0 RATE_LIMIT_LOGIN_ADDRESS=0 RATE_LIMIT_SECRETS_IP=0 RATE_LIMIT_SECRETS_ADDRESS=0 \
    "$bin" serve --listen "127.0.0.1:${port[$name]}" >"$work/$name/serve.log" 2>&1 &
  pids+=($!)
  pid[$name]=$!
  wait_port "http://127.0.0.1:${port[$name]}/livez"
}
sides=(off on noquota)
start off "$work/nosana-secrets" HISTORY=false
start on "$work/nosana-secrets" HISTORY=true
start noquota "$work/nosana-secrets" HISTORY=true QUOTA_SECRETS=0 QUOTA_BYTES=0
if [ -n "${BASE_BIN:-}" ]; then
  cp "$BASE_BIN" "$work/base-bin"
  start base_off "$work/base-bin" HISTORY=false
  start base_on "$work/base-bin" HISTORY=true
  sides+=(base_off base_on)
fi

# lua_head METHOD TOKEN: the head of a wrk script that sends METHOD with the
# token as JSON and counts its requests in n.
lua_head() {
  printf '%s\n' "wrk.method = \"$1\"" 'wrk.headers["Content-Type"] = "application/json"' \
    "wrk.headers[\"Authorization\"] = \"Bearer $2\"" 'local n = 0'
}
for name in "${sides[@]}"; do
  url="http://127.0.0.1:${port[$name]}"
  token=$("$work/benchtool" -url "$url" -seed 1000)
  echo "$token" >"$work/$name/token"
  { lua_head POST "$token"; cat <<'LUA'; } >"$work/$name/post.lua"
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"secrets":{"w-' .. (n % 100) .. '":"a value of some forty bytes, like a key"}}')
end
LUA
  { lua_head PUT "$token"; cat <<'LUA'; } >"$work/$name/put.lua"
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/secrets/p-" .. (n % 100), nil, '{"value":"a value of some forty bytes, like a key"}')
end
LUA
  # Warm up every side the same way.
  wrk -t"$THREADS" -c"$CONNS" -d2s -H "Authorization: Bearer $token" "$url/secrets/key-500" >/dev/null
done

# The scenarios: NAME SIDE KIND (get, post or put).
scenarios=("get_off off get" "get_on on get" "post_off off post" "post_on on post" "put_on on put" "put_noquota noquota put")
if [ -n "${BASE_BIN:-}" ]; then scenarios+=("post_base_off base_off post" "put_base_on base_on put"); fi

declare -A rps p50 p99 cpu
for round in $(seq "$ROUNDS"); do
  order=("${scenarios[@]}")
  if [ $((round % 2)) -eq 0 ]; then # every other round backwards, so drift favours no side
    order=()
    for ((i = ${#scenarios[@]} - 1; i >= 0; i--)); do order+=("${scenarios[$i]}"); done
  fi
  for sc in "${order[@]}"; do
    read -r key side kind <<<"$sc"
    url="http://127.0.0.1:${port[$side]}"
    token=$(cat "$work/$side/token")
    case $kind in
    get) out=$(wrk_run "${pid[$side]}" "$url/secrets/key-500" -H "Authorization: Bearer $token") ;;
    post) out=$(wrk_run "${pid[$side]}" "$url/secrets" -s "$work/$side/post.lua") ;;
    put) out=$(wrk_run "${pid[$side]}" "$url/v1/secrets/p-0" -s "$work/$side/put.lua") ;;
    esac
    read -r a b c d <<<"$out"
    rps[$key]=$(awk -v s="${rps[$key]:-0}" -v a="$a" -v n="$ROUNDS" 'BEGIN {printf "%.2f", s + a / n}')
    cpu[$key]=$(awk -v s="${cpu[$key]:-0}" -v a="$d" -v n="$ROUNDS" 'BEGIN {printf "%.0f", s + a / n}')
    p50[$key]=$b p99[$key]=$c
  done
done

printf '\n%-52s %12s %10s %10s %12s\n' scenario "requests/s" p50 p99 "CPU µs/req"
row() { printf '%-52s %12s %10s %10s %12s\n' "$1" "${rps[$2]}" "${p50[$2]}" "${p99[$2]}" "${cpu[$2]}"; }
row "GET /secrets/:key, HISTORY=false" get_off
row "GET /secrets/:key, HISTORY=true (audited)" get_on
row "POST /secrets (1 key), HISTORY=false" post_off
row "POST /secrets (1 key), HISTORY=true" post_on
row "PUT /v1/secrets/:key, HISTORY=true" put_on
row "PUT /v1/secrets/:key, HISTORY=true, QUOTA_*=0" put_noquota
if [ -n "${BASE_BIN:-}" ]; then
  row "POST /secrets (1 key), HISTORY=false, BASE_BIN" post_base_off
  row "PUT /v1/secrets/:key, HISTORY=true, BASE_BIN" put_base_on
fi
# ratio A B: requests/s of A over B, and (in brackets) B's CPU per request over A's.
ratio() { awk -v a="${rps[$1]}" -v b="${rps[$2]}" -v ca="${cpu[$1]}" -v cb="${cpu[$2]}" 'BEGIN {printf "%.2f (CPU %.2f)", a/b, cb/ca}'; }
echo
echo "GET audited / not:          $(ratio get_on get_off) (goal >= 0.90)"
echo "POST with history / without: $(ratio post_on post_off) (goal >= 0.80)"
echo "PUT v1 / POST without:       $(ratio put_on post_off) (goal >= 0.80)"
echo "PUT quota on / QUOTA_*=0:    $(ratio put_on put_noquota)"
if [ -n "${BASE_BIN:-}" ]; then
  echo "PUT / PUT of BASE_BIN:       $(ratio put_on put_base_on) (what counting costs a history write)"
  echo "POST / POST of BASE_BIN:     $(ratio post_off post_base_off) (what counting costs a write without history)"
fi
echo "storage: sqlite; wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS round(s); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
