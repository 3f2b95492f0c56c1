# Sourced by .ci/run: podman for test/container, and stand-ins for the
# Dockerfiles' base images built from local files (these machines reach no
# image registry). Exports what the test needs:
#   CONTAINERS_CONF                        podman's settings for this machine
#   NOSANA_TEST_CONTAINER_GO_IMAGE         for GO_IMAGE: busybox + this Go toolchain
#   NOSANA_TEST_CONTAINER_RUNTIME_IMAGE    for RUNTIME_IMAGE: distroless static's layout
#   NOSANA_TEST_CONTAINER_BUSYBOX_IMAGE    for release.Dockerfile's BUSYBOX_IMAGE
# The stand-ins are rebuilt only when their inputs change (a label holds a
# hash of them), so a second run on a machine reuses them.

if ! command -v podman >/dev/null || ! command -v runc >/dev/null || [ ! -x /bin/busybox ]; then
	apt_install podman runc busybox-static
fi

# runc (crun's seccomp setup fails here), cgroupfs (no systemd), and no
# default ulimits (the container may not raise its own). In a file of this
# run: nothing global is changed.
export CONTAINERS_CONF="$work/containers.conf"
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
CONF

# standin NAME HASH DIR CHANGE…: import DIR as localhost/nosana-ci/NAME
# unless an image with that name and hash is there.
standin() {
	local name=localhost/nosana-ci/$1 hash=$2 dir=$3
	shift 3
	if [ "$(podman image inspect --format '{{index .Labels "nosana.ci.hash"}}' "$name" 2>/dev/null)" = "$hash" ]; then
		return 0
	fi
	log "building stand-in image $name"
	local changes=(--change "LABEL nosana.ci.hash=$hash")
	for c in "$@"; do changes+=(--change "$c"); done
	tar -C "$dir" --numeric-owner -cf - . | podman import -q "${changes[@]}" - "$name" >/dev/null
}

standins=$work/standins
# busybox: /bin/sh and the few tools a Dockerfile's RUN lines use.
mkdir -p "$standins/busybox/bin" "$standins/busybox/tmp"
cp /bin/busybox "$standins/busybox/bin/busybox"
for t in sh mkdir chown chmod ls cat rm cp ln true; do
	ln -sf busybox "$standins/busybox/bin/$t"
done
chmod 1777 "$standins/busybox/tmp"
busybox_hash=$(sha256sum /bin/busybox | cut -c1-16)
standin busybox "$busybox_hash" "$standins/busybox" 'ENV PATH=/bin'

# go: busybox, the local toolchain at /usr/local/go, CA certificates, and the
# golang image's environment.
go_root=$(go env GOROOT)
go_hash=$( (go version; echo "$busybox_hash") | sha256sum | cut -c1-16)
if [ "$(podman image inspect --format '{{index .Labels "nosana.ci.hash"}}' localhost/nosana-ci/go 2>/dev/null)" != "$go_hash" ]; then
	cp -a "$standins/busybox" "$standins/go"
	mkdir -p "$standins/go/usr/local" "$standins/go/etc/ssl/certs" "$standins/go/go" "$standins/go/root"
	cp -a "$go_root" "$standins/go/usr/local/go"
	rm -rf "$standins/go/usr/local/go/test" "$standins/go/usr/local/go/doc"
	cp /etc/ssl/certs/ca-certificates.crt "$standins/go/etc/ssl/certs/"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$standins/go/etc/passwd"
	standin go "$go_hash" "$standins/go" \
		'ENV PATH=/go/bin:/usr/local/go/bin:/bin' 'ENV GOPATH=/go' 'ENV GOTOOLCHAIN=local' 'WORKDIR /go'
fi

# runtime: distroless static's layout — passwd and group with root and
# nonroot (65532), its home, /tmp and the CA certificates; no shell.
rt=$standins/runtime
mkdir -p "$rt/etc/ssl/certs" "$rt/tmp" "$rt/home/nonroot"
chmod 1777 "$rt/tmp"
chown 65532:65532 "$rt/home/nonroot"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rt/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$rt/etc/group"
cp /etc/ssl/certs/ca-certificates.crt "$rt/etc/ssl/certs/"
rt_hash=$(tar -C "$rt" --numeric-owner --sort=name --mtime=@0 -cf - . | sha256sum | cut -c1-16)
standin runtime "$rt_hash" "$rt" 'USER 65532:65532' 'WORKDIR /home/nonroot' \
	'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'

# The image build reads modules from this machine's module cache (a file
# GOPROXY): fetch every module go.mod lists, not only those builds here used.
go mod download

export NOSANA_TEST_CONTAINER_GO_IMAGE=localhost/nosana-ci/go
export NOSANA_TEST_CONTAINER_RUNTIME_IMAGE=localhost/nosana-ci/runtime
export NOSANA_TEST_CONTAINER_BUSYBOX_IMAGE=localhost/nosana-ci/busybox
