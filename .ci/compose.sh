# Sourced by .ci/run: deploy/compose.yaml and its Caddyfile are checked
# without an engine (none can run images here): docker-compose config
# (Debian's 1.29, which validates against the compose file schema and
# interpolates variables) and caddy validate. Nothing is started.

if ! command -v docker-compose >/dev/null || ! command -v caddy >/dev/null; then
	apt_install --no-install-recommends docker-compose caddy
fi

log "deploy/compose.yaml"
compose_out=$(POSTGRES_PASSWORD=ci-password PUBLIC_HOST=secrets.example.com docker-compose -f deploy/compose.yaml config)
# Three replicas on the one PostgreSQL, each with the keys as files.
for want in 'STORAGE_CONNECTION: postgres://nosana:ci-password@postgres:5432/nosana' \
	'JWT_SECRET_FILE: /run/secrets/jwt_secret' 'PUBLIC_URL: https://secrets.example.com'; do
	if [ "$(grep -cF -- "$want" <<<"$compose_out")" != 3 ]; then
		echo "compose: '$want' is not in exactly three services" >&2
		exit 1
	fi
done
# The validator has teeth: a misspelt key and a missing password are refused.
sed 's/^    restart: unless-stopped$/    restrat: unless-stopped/' deploy/compose.yaml >"$work/compose-typo.yaml"
if POSTGRES_PASSWORD=x docker-compose -f "$work/compose-typo.yaml" config -q 2>/dev/null; then
	rm -f "$work/compose-typo.yaml"
	echo "compose: docker-compose config accepted a misspelt key" >&2
	exit 1
fi
rm -f "$work/compose-typo.yaml"
if env -u POSTGRES_PASSWORD docker-compose -f deploy/compose.yaml config -q 2>/dev/null; then
	echo "compose: accepted without POSTGRES_PASSWORD" >&2
	exit 1
fi
PUBLIC_HOST=secrets.example.com caddy validate --adapter caddyfile --config deploy/Caddyfile >/dev/null 2>"$work/caddy.log" || {
	cat "$work/caddy.log" >&2
	exit 1
}
