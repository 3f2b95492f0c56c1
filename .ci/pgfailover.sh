# PostgreSQL failover (test/e2e TestPostgresFailover): a primary and a
# synchronous streaming standby of our own, built with Debian's
# postgresql-common on loopback ports of their own, and dropped on exit.
# The system cluster "main" is never touched: ours are named after this
# run's database ($db), so runs with different NOSANA_CI_DB do not meet.
#
# Exports NOSANA_TEST_PG_FAILOVER="URI VERSION/PRIMARY VERSION/STANDBY":
# the multi-host URI (primary first) and the two clusters, which the test
# stops and promotes with pg_ctlcluster.
#
# Sourced by .ci/run (which defines db, and log and wait_for from .ci/lib.sh). Run on its own
# it builds the clusters, runs its arguments, and drops them:
#
#	bash .ci/pgfailover.sh go test ./test/e2e -run TestPostgresFailover -v

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	cd "$(dirname "$0")/.."
	db=${NOSANA_CI_DB:-nosana_test}
	source .ci/lib.sh
fi

pgfo_ver=$(ls /etc/postgresql | sort -V | tail -n 1)
pgfo_primary=${db}_fo_primary
pgfo_standby=${db}_fo_standby
pgfo_db=$db

# pg_ctlcluster runs as the cluster's owner (postgres) when called by root;
# without systemd it must not try to redirect to systemctl.
pgfo_ctl() { pg_ctlcluster --skip-systemctl-redirect "$pgfo_ver" "$@"; }
pgfo_psql() { psql -X -q -t -A -h 127.0.0.1 -U postgres -d postgres -p "$@"; }

pgfo_drop() {
	local c
	for c in "$pgfo_standby" "$pgfo_primary"; do
		if [ -d "/etc/postgresql/$pgfo_ver/$c" ]; then
			pg_dropcluster --stop "$pgfo_ver" "$c" 2>/dev/null || true
			rm -rf "/etc/postgresql/$pgfo_ver/$c" # what it leaves: our conf.d file
		fi
	done
}

# A loopback port nobody listens on and no cluster is configured for,
# below the kernel's ephemeral range (32768 up), so an outgoing connection
# of a test cannot take it between this check and the cluster's start.
pgfo_free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
			! grep -qs "^port *= *$p\b" /etc/postgresql/*/*/postgresql.conf; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Our clusters go when the run ends, before whatever .ci/run cleans up.
pgfo_prev_trap() { eval "set -- $(trap -p EXIT)"; pgfo_prev=${3:-}; }
pgfo_prev_trap
trap "pgfo_drop; $pgfo_prev" EXIT

log "PostgreSQL failover pair ($pgfo_ver/$pgfo_primary, $pgfo_ver/$pgfo_standby)"
pgfo_drop # left over from an interrupted run
pgfo_p1=$(pgfo_free_port)
pgfo_p2=$(pgfo_free_port)
while [ "$pgfo_p2" = "$pgfo_p1" ]; do pgfo_p2=$(pgfo_free_port); done

pgfo_conf() { # CLUSTER PORT: settings of both servers
	cat >"/etc/postgresql/$pgfo_ver/$1/conf.d/nosana-failover.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $2
max_connections = 60
shared_buffers = 32MB
wal_level = replica
max_wal_senders = 4
hot_standby = on
EOF
}

# The primary, trusting loopback (as the system cluster here does).
pg_createcluster -q --start-conf=manual -p "$pgfo_p1" "$pgfo_ver" "$pgfo_primary" -- --auth=trust --no-sync >/dev/null
pgfo_conf "$pgfo_primary" "$pgfo_p1"
pgfo_ctl "$pgfo_primary" start
wait_for "the failover primary" pg_isready -q -h 127.0.0.1 -p "$pgfo_p1"
pgfo_psql "$pgfo_p1" -v ON_ERROR_STOP=1 -c "CREATE DATABASE $pgfo_db"

# The standby: a cluster of its own whose data directory is replaced by a
# base backup of the primary; -R makes it a standby streaming from the
# primary under the application name the primary waits for.
pg_createcluster -q --start-conf=manual -p "$pgfo_p2" "$pgfo_ver" "$pgfo_standby" -- --auth=trust --no-sync >/dev/null
pgfo_conf "$pgfo_standby" "$pgfo_p2"
pgfo_data=$(pg_conftool -s "$pgfo_ver" "$pgfo_standby" show data_directory)
find "$pgfo_data" -mindepth 1 -delete # pg_basebackup fills an empty directory
runuser -u postgres -- pg_basebackup -D "$pgfo_data" -R -X stream -c fast \
	-d "host=127.0.0.1 port=$pgfo_p1 user=postgres application_name=$pgfo_standby"
pgfo_ctl "$pgfo_standby" start
wait_for "the failover standby" pg_isready -q -h 127.0.0.1 -p "$pgfo_p2"
pgfo_sync() {
	[ "$(pgfo_psql "$pgfo_p1" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$pgfo_standby'")" = sync ]
}
# Now that the standby streams, every commit on the primary waits until the
# standby has flushed its WAL, so an acknowledged write survives the loss of
# the primary. (Only on the primary: promoted without a standby of its own,
# the standby would wait for ever.)
cat >>"/etc/postgresql/$pgfo_ver/$pgfo_primary/conf.d/nosana-failover.conf" <<EOF
synchronous_standby_names = 'FIRST 1 ($pgfo_standby)'
synchronous_commit = on
EOF
pgfo_ctl "$pgfo_primary" reload
wait_for "synchronous replication" pgfo_sync

export NOSANA_TEST_PG_FAILOVER="postgres://postgres@127.0.0.1:$pgfo_p1,127.0.0.1:$pgfo_p2/$pgfo_db?sslmode=disable&target_session_attrs=read-write $pgfo_ver/$pgfo_primary $pgfo_ver/$pgfo_standby"

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	"$@"
fi
