# shellcheck shell=bash
# What the bench scripts share; they source it from the repo root after
# `set -euo pipefail`. It makes a scratch directory $work, removed at exit
# once the processes listed in pids are killed.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# build_bin puts the server to measure at $work/nosana-secrets: a copy of
# $BIN when set, else a build of this tree.
build_bin() { if [ -n "${BIN:-}" ]; then cp "$BIN" "$work/nosana-secrets"; else go build -o "$work/nosana-secrets" .; fi; }
# A port the kernel says is free, so that runs beside other servers work.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_port URL waits up to 10 s for URL to answer, else exits.
wait_port() { for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "no answer at $1" >&2; exit 1; }
# cpu_ticks PID: the user + system CPU time the process has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
