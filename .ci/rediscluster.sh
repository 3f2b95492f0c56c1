# Sourced by .ci/run: Redis Clusters and Sentinel groups on loopback from
# Debian's redis-server, for the cluster and sentinel tests. Exports
#
#   NOSANA_TEST_REDIS_CLUSTER            6 nodes (3 primaries, 3 replicas)
#   NOSANA_TEST_REDIS_SENTINEL           a primary, a replica, 3 sentinels
#   NOSANA_TEST_REDIS_FAILOVER_CLUSTER   the same again, for the failover
#   NOSANA_TEST_REDIS_FAILOVER_SENTINEL  tests alone: they SIGKILL primaries
#
# Every server runs in a temporary directory with a pid file there; on exit
# only those pids are stopped. Runs alone too: bash .ci/rediscluster.sh
# starts everything, prints the exports and waits for ^C.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	apt_install redis-server
fi

rc_dir=$(mktemp -d /tmp/nosana-redis-cluster.XXXXXX)

# rc_cleanup stops the servers this script started (a pid file names each;
# a pid is signalled only while it is still a redis-server).
rc_cleanup() {
	local f pid pids=()
	for f in "$rc_dir"/*/redis.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		if grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done
	# A server still writing its files makes rm fail ("Directory not
	# empty"): wait up to 5 s for them to exit, and never fail the run here.
	for _ in $(seq 1 50); do
		alive=0
		for pid in "${pids[@]}"; do
			if kill -0 "$pid" 2>/dev/null; then alive=1; fi
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	rm -rf "$rc_dir" 2>/dev/null || true
}
rc_prev_trap=$(trap -p EXIT | sed "s/^trap -- '\(.*\)' EXIT\$/\1/")
# shellcheck disable=SC2064 # the previous trap is expanded now, on purpose
trap "rc_cleanup; $rc_prev_trap" EXIT

# rc_port_free PORT: nothing listens on 127.0.0.1:PORT.
rc_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# rc_ports N: N consecutive free ports whose cluster bus ports (+10000) are
# free too, from a random base, all below the kernel's ephemeral range
# (32768 on): a port there may be taken by an outgoing connection, which
# no listen check sees.
rc_ports() {
	local n=$1 base i ok
	for _ in $(seq 1 50); do
		base=$((10000 + RANDOM % 12700))
		ok=1
		for i in $(seq 0 $((n - 1))); do
			if ! rc_port_free $((base + i)) || ! rc_port_free $((base + i + 10000)); then
				ok=0
				break
			fi
		done
		if [ $ok = 1 ]; then
			seq "$base" $((base + n - 1))
			return 0
		fi
	done
	log "no free block of $n ports"
	return 1
}

# rc_wait WHAT CMD…: wait_for with 30 s.
rc_wait() { WAIT_FOR_SECS=30 wait_for "$@"; }

rc_ping() { [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]; }

# rc_server PORT EXTRA_CONF: one redis-server on 127.0.0.1:PORT, no
# persistence, fast diskless replication.
rc_server() {
	local port=$1 d="$rc_dir/$1"
	mkdir -p "$d"
	cat >"$d/redis.conf" <<-EOF
		bind 127.0.0.1
		port $port
		dir $d
		daemonize yes
		pidfile $d/redis.pid
		logfile $d/redis.log
		save ""
		appendonly no
		repl-diskless-sync yes
		repl-diskless-sync-delay 0
		$2
	EOF
	redis-server "$d/redis.conf"
}

rc_cluster_ok() {
	local p
	for p in "$@"; do
		redis-cli -p "$p" cluster info | grep -q '^cluster_state:ok' || return 1
		[ "$(redis-cli -p "$p" cluster info | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p')" = 6 ] || return 1
	done
	# every replica has its primary's data stream
	[ "$(for p in "$@"; do redis-cli -p "$p" info replication; done | grep -c '^master_link_status:up')" = 3 ]
}

# rc_cluster VAR: a 6-node cluster; VAR gets its redis+cluster URI.
rc_cluster() {
	local var=$1 ports p
	ports=$(rc_ports 6) || return 1
	for p in $ports; do
		rc_server "$p" "cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 1500
cluster-replica-validity-factor 0"
	done
	for p in $ports; do rc_wait "redis $p" rc_ping "$p" || { cat "$rc_dir/$p/redis.log" >&2; return 1; }; done
	# shellcheck disable=SC2046 # one argument per node
	redis-cli --cluster create $(printf '127.0.0.1:%s ' $ports) --cluster-replicas 1 --cluster-yes >"$rc_dir/$var.create.log" 2>&1 || {
		cat "$rc_dir/$var.create.log" >&2
		return 1
	}
	# shellcheck disable=SC2086
	rc_wait "cluster $var" rc_cluster_ok $ports || return 1
	export "$var=redis+cluster://$(printf '127.0.0.1:%s,' $ports | sed 's/,$//')"
}

rc_quorum() { redis-cli -p "$1" sentinel ckquorum "$2" | grep -q '^OK 3 usable'; }

# rc_sentinel VAR NAME: a primary, one replica and three sentinels watching
# them as NAME; VAR gets its redis+sentinel URI.
rc_sentinel() {
	local var=$1 name=$2 ports primary replica p s d sentinels=
	ports=$(rc_ports 5) || return 1
	set -- $ports
	primary=$1 replica=$2
	shift 2
	rc_server "$primary" ""
	rc_server "$replica" "replicaof 127.0.0.1 $primary"
	for s in "$@"; do
		d="$rc_dir/$s"
		mkdir -p "$d"
		cat >"$d/sentinel.conf" <<-EOF
			bind 127.0.0.1
			port $s
			dir $d
			daemonize yes
			pidfile $d/redis.pid
			logfile $d/redis.log
			sentinel monitor $name 127.0.0.1 $primary 2
			sentinel down-after-milliseconds $name 1000
			sentinel failover-timeout $name 5000
		EOF
		redis-server "$d/sentinel.conf" --sentinel
		sentinels="$sentinels,127.0.0.1:$s"
	done
	rc_wait "replica $replica" sh -c "redis-cli -p $replica info replication | grep -q '^master_link_status:up'" || return 1
	for s in "$@"; do rc_wait "sentinel $s" rc_quorum "$s" "$name" || return 1; done
	export "$var=redis+sentinel://${sentinels#,}/$name"
}

log "Redis Clusters and Sentinels (.ci/rediscluster.sh)"
rc_cluster NOSANA_TEST_REDIS_CLUSTER
rc_cluster NOSANA_TEST_REDIS_FAILOVER_CLUSTER
rc_sentinel NOSANA_TEST_REDIS_SENTINEL nosana
rc_sentinel NOSANA_TEST_REDIS_FAILOVER_SENTINEL nosana-failover

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	env | grep '^NOSANA_TEST_REDIS_' | sed 's/^/export /'
	echo "running; ^C stops them" >&2
	sleep infinity
fi
