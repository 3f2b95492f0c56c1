# Sourced by the .ci scripts: what they share.

log() { printf '==> %s\n' "$*" >&2; }

# wait_for NAME CMD…: retry CMD every 0.1 s for up to WAIT_FOR_SECS (60).
wait_for() {
	local name=$1 secs=${WAIT_FOR_SECS:-60}
	shift
	for _ in $(seq 1 $((secs * 10))); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	log "$name does not answer after ${secs}s"
	return 1
}

# apt_install PKG… installs Debian packages, waiting up to 10 minutes for
# another apt or dpkg (a second CI run, a developer's install) to let go of
# the lock instead of failing at once.
apt_install() {
	log "installing $*"
	apt-get -o DPkg::Lock::Timeout=600 update -qq
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}
