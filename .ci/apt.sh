# Sourced by the .ci scripts: apt_install PKG… installs Debian packages,
# waiting up to 10 minutes for another apt or dpkg (a second CI run, a
# developer's install) to let go of the lock instead of failing at once.
apt_install() {
	printf '==> installing %s\n' "$*" >&2
	apt-get -o DPkg::Lock::Timeout=600 update -qq
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}
