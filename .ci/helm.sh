# Sourced by .ci/run: the Helm chart (deploy/helm/nosana-secrets) through
# helm lint and helm template, and every rendered manifest through
# kubeconform -strict against the Kubernetes schemas. helm and kubeconform
# are built at pinned versions by the Go toolchain; the schemas are made
# here from the OpenAPI document in the k8s.io/kubernetes module (fetched
# through the Go module proxy like any module) by deploy/k8sschemas, since
# kubeconform's default schema site is out of reach. ServiceMonitor is a
# CRD (the Prometheus operator's), in no Kubernetes schema: it is skipped.
# values.schema.json is checked both ways: good value sets lint clean, and
# each bad value in `bad_values` makes `helm lint --strict` fail naming it.

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.7.0
K8S_SCHEMA_VERSION=v1.34.4

log "helm chart (helm $HELM_VERSION, kubeconform $KUBECONFORM_VERSION, Kubernetes $K8S_SCHEMA_VERSION schemas)"
GOBIN="$work/bin" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
GOBIN="$work/bin" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
k8s_dir=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$K8S_SCHEMA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
go run ./deploy/k8sschemas "$k8s_dir/api/openapi-spec/swagger.json" "$work/k8s-schemas" >/dev/null

chart=deploy/helm/nosana-secrets
helm_check() {
	local name=$1
	shift
	"$work/bin/helm" template nosana "$chart" "$@" >"$work/helm-$name.yaml"
	"$work/bin/kubeconform" -strict -summary -skip ServiceMonitor \
		-schema-location "$work/k8s-schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$work/helm-$name.yaml"
}
# env_names FILE: the env names of the Deployment's container, one a line.
env_names() {
	awk '/^kind: Deployment$/ { d = 1 } /^---/ { d = 0 } d && /^          env:$/ { e = 1; next }
		e && /^          [a-zA-Z]/ { e = 0 } e && /^            - name: / { print $3 }' "$1"
}
# no_dup_env FILE: no name twice (kubectl apply merges them, the API keeps both).
no_dup_env() {
	local dup
	dup=$(env_names "$1" | sort | uniq -d)
	if [ -n "$dup" ]; then
		echo "helm: $1 has env entries twice: $dup" >&2
		exit 1
	fi
}
# doc FILE KIND: the rendered documents of that kind, into FILE.KIND.
doc() {
	awk -v k="kind: $2" '/^---/ { d = 0 } $0 == k { d = 1 } d' "$1" >"$1.$2"
}
# count FILE PATTERN N: PATTERN matches exactly N lines of FILE.
count() {
	local n
	n=$(grep -cE -- "$2" "$1" || true)
	if [ "$n" != "$3" ]; then
		echo "helm: $1 has $n lines matching '$2', want $3" >&2
		exit 1
	fi
}
# refused WHAT PATTERN ARGS…: helm WHAT (lint --strict or template) fails
# with these values, and its error matches PATTERN.
refused() {
	local what=$1 pattern=$2
	shift 2
	# shellcheck disable=SC2086
	if "$work/bin/helm" $what "$@" >"$work/helm-out" 2>"$work/helm-err"; then
		echo "helm: $what accepted $*" >&2
		exit 1
	fi
	if ! grep -qE -- "$pattern" "$work/helm-err" "$work/helm-out"; then
		echo "helm: $what refused $* but not with '$pattern':" >&2
		cat "$work/helm-err" >&2
		exit 1
	fi
}
# need FILE PATTERN…: each pattern must be in the rendered FILE.
need() {
	local f=$1
	shift
	for p in "$@"; do
		if ! grep -qE -- "$p" "$f"; then
			echo "helm: $f has no line matching '$p'" >&2
			exit 1
		fi
	done
}

# Every setting serve reads has its entry in the schema's config (a new
# setting left out would be refused by `helm lint` as unknown).
settings=$(sed -nE 's/^[[:space:]]*\{"[a-z0-9-]+", "([A-Z][A-Z0-9_]*)",.*/\1/p' cmd/serve/config.go | sort)
if [ "$(echo "$settings" | wc -l)" -lt 20 ]; then
	echo "helm: found only $(echo "$settings" | wc -w) settings in cmd/serve/config.go: has the table moved?" >&2
	exit 1
fi
command -v jq >/dev/null || apt_install jq
schema_settings=$(jq -r '.properties.config.properties | keys[]' "$chart/values.schema.json" | sort)
if [ "$settings" != "$schema_settings" ]; then
	echo "helm: settings in cmd/serve/config.go and values.schema.json's config differ:" >&2
	diff <(echo "$settings") <(echo "$schema_settings") >&2
	exit 1
fi

for f in "$chart"/ci/*-values.yaml; do
	"$work/bin/helm" lint --strict "$chart" -f "$f"
done
# Everything on: the chart's own Secret, HPA, ServiceMonitor.
helm_check all -f "$chart/ci/test-values.yaml"
need "$work/helm-all.yaml" '^kind: HorizontalPodAutoscaler' '^kind: ServiceMonitor' '^kind: Secret' \
	'^kind: PodDisruptionBudget' 'minReplicas: 3'
doc "$work/helm-all.yaml" ServiceMonitor
need "$work/helm-all.yaml.ServiceMonitor" '^    - port: http$'
# The defaults with a Secret of one's own: three replicas, probes, non-root,
# read-only, and the helm test Pod asking /readyz through the Service.
helm_check existing --set secret.existingSecret=nosana-keys
need "$work/helm-existing.yaml" '^  replicas: 3$' 'path: /livez' 'path: /readyz' 'runAsNonRoot: true' \
	'runAsUser: 65532' 'readOnlyRootFilesystem: true' 'name: nosana-keys' 'key: storage-connection' \
	'^kind: PodDisruptionBudget' 'memory: 256Mi' '^kind: ServiceAccount' 'serviceAccountName: nosana-nosana-secrets' \
	'helm.sh/hook: test' '- health$' '- http://nosana-nosana-secrets.default.svc:4124$'
if grep -qE '^kind: (Secret|HorizontalPodAutoscaler|ServiceMonitor|Ingress|NetworkPolicy)$' "$work/helm-existing.yaml"; then
	echo "helm: the defaults render a Secret, HPA, ServiceMonitor, Ingress or NetworkPolicy" >&2
	exit 1
fi
count "$work/helm-existing.yaml" 'containerPort:' 1
# Every operator option (ci/ops-values.yaml): Ingress with TLS (and
# PUBLIC_URL from its host), NetworkPolicy, metrics on their own port in
# the pod, the Service and the ServiceMonitor, a CA volume, an annotated
# service account, numbers and false kept as the env's text.
helm_check ops -f "$chart/ci/ops-values.yaml"
need "$work/helm-ops.yaml" '^kind: Ingress$' 'ingressClassName: nginx' 'secretName: nosana-secrets-tls' \
	'cert-manager.io/cluster-issuer: letsencrypt' 'value: "https://secrets.example.com"' \
	'^kind: NetworkPolicy$' 'kubernetes.io/metadata.name: ingress-nginx' 'kubernetes.io/metadata.name: monitoring' \
	'k8s-app: kube-dns' 'cidr: 10.20.0.0/16' 'cidr: 10.30.0.5/32' 'app.kubernetes.io/component: test' \
	'containerPort: 9124' 'targetPort: metrics' '- port: metrics$' 'value: ":9124"' \
	'configMap:' 'mountPath: /etc/nosana/ca' 'eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/nosana-secrets' \
	'value: "67108864"' 'value: "false"' 'resource: limits.memory'
doc "$work/helm-ops.yaml" ServiceMonitor
need "$work/helm-ops.yaml.ServiceMonitor" '^    - port: metrics$' 'release: prometheus'
doc "$work/helm-ops.yaml" Service
need "$work/helm-ops.yaml.Service" '^    - name: metrics$' '^      port: 9124$'
# The NetworkPolicy's defaults: the API port from anyone (no `from`), the
# stores' ports to any address; an IPv6 METRICS_LISTEN; an Ingress without
# TLS gives an http:// PUBLIC_URL.
helm_check netpol --set secret.existingSecret=nosana-keys --set networkPolicy.enabled=true \
	--set-string 'config.METRICS_LISTEN=[::]:9125' --set ingress.enabled=true
need "$work/helm-netpol.yaml" '^kind: NetworkPolicy$' 'port: 5432' 'port: 26379' 'k8s-app: kube-dns' \
	'cidr: 0.0.0.0/0' 'containerPort: 9125' 'value: "http://secrets.example.com"'
count "$work/helm-netpol.yaml" '^      from:$' 0
# An account of one's own: none created, the pod names it.
helm_check sa --set secret.existingSecret=nosana-keys --set serviceAccount.create=false --set serviceAccount.name=nosana-irsa \
	--set tests.enabled=false
need "$work/helm-sa.yaml" 'serviceAccountName: nosana-irsa'
if grep -qE '^kind: ServiceAccount$|helm.sh/hook' "$work/helm-sa.yaml"; then
	echo "helm: serviceAccount.create=false or tests.enabled=false still renders what they turn off" >&2
	exit 1
fi
# STORAGE_CONNECTION from config beside an existingSecret: one env entry,
# the value, not the Secret's key.
helm_check store --set secret.existingSecret=nosana-keys \
	--set config.STORAGE_CONNECTION='redis://redis-master.data.svc:6379/0'
count "$work/helm-store.yaml" '^            - name: STORAGE_CONNECTION$' 1
need "$work/helm-store.yaml" 'value: "redis://redis-master.data.svc:6379/0"'
count "$work/helm-store.yaml" 'key: storage-connection' 0
for f in "$work"/helm-*.yaml; do
	no_dup_env "$f"
done

# Refused by the templates: no Secret at all, a store the replicas cannot
# share (in the Secret, or in config beside an existingSecret, checked with
# the schema off so the template's own guard is what answers), names the
# chart sets itself, metrics only on loopback.
t="template nosana $chart"
refused "$t" 'is required'
refused "$t" 'shared store' --set secret.jwtSecret=ci-signing-key-of-at-least-32-bytes-long --set secret.masterKey=x \
	--set secret.storageConnection=sqlite:///data/db.sqlite
refused "$t" 'config.STORAGE_CONNECTION: replicas need a shared store' --skip-schema-validation \
	--set secret.existingSecret=nosana-keys --set config.STORAGE_CONNECTION=sqlite:///x
refused "$t" 'config.STORAGE_CONNECTION: replicas need a shared store' --skip-schema-validation \
	--set secret.existingSecret=nosana-keys --set config.STORAGE_CONNECTION=memory://
refused "$t" 'the chart sets PORT' --set secret.existingSecret=nosana-keys --set config.PORT=8080
refused "$t" 'the chart sets JWT_SECRET' --set secret.existingSecret=nosana-keys --set config.JWT_SECRET=ci-signing-key-of-at-least-32-bytes-long
refused "$t" 'extraEnv: STORAGE_CONNECTION is set by the chart' --set secret.existingSecret=nosana-keys \
	--set 'extraEnv[0].name=STORAGE_CONNECTION' --set 'extraEnv[0].value=postgres://db/x'
refused "$t" 'extraEnv: LOG_LEVEL is also set in config' --set secret.existingSecret=nosana-keys \
	--set 'extraEnv[0].name=LOG_LEVEL' --set 'extraEnv[0].value=debug'
refused "$t" 'extraEnv: GOGC is listed twice' --set secret.existingSecret=nosana-keys \
	--set 'extraEnv[0].name=GOGC' --set 'extraEnv[0].value=50' --set 'extraEnv[1].name=GOGC' --set 'extraEnv[1].value=100'
refused "$t" 'loopback' --set secret.existingSecret=nosana-keys --set config.METRICS_LISTEN=127.0.0.1:9124
refused "$t" 'another port' --set secret.existingSecret=nosana-keys --set config.METRICS_LISTEN=:4124

# Refused by values.schema.json: `helm lint --strict` fails on a bad value
# of each kind (type, enum, pattern, required, unknown name), naming it.
l="lint --strict $chart -f $chart/ci/test-values.yaml"
refused "$l" 'replicaCount' --set-string replicaCount=three
refused "$l" 'replicaCount' --set replicaCount=0
refused "$l" 'service/type' --set service.type=Internal
refused "$l" 'service/port' --set service.port=70000
refused "$l" 'image/pullPolicy' --set image.pullPolicy=Sometimes
refused "$l" 'image/digest' --set image.digest=latest
refused "$l" 'repository' --set image.repository=null
refused "$l" 'config/LOG_LEVEL' --set config.LOG_LEVEL=verbose
refused "$l" 'LOG_LEVL' --set config.LOG_LEVL=debug
refused "$l" 'config/SHUTDOWN_TIMEOUT' --set config.SHUTDOWN_TIMEOUT=soon
refused "$l" 'config/UI' --set config.UI=maybe
refused "$l" 'config/METRICS_LISTEN' --set config.METRICS_LISTEN=9124
refused "$l" 'config/STORAGE_CONNECTION' --set config.STORAGE_CONNECTION=sqlite:///x
refused "$l" 'config/PUBLIC_URL' --set config.PUBLIC_URL=secrets.example.com
refused "$l" 'secret/jwtSecret' --set secret.jwtSecret=short
refused "$l" 'pathType' --set ingress.enabled=true --set 'ingress.hosts[0].host=secrets.example.com' \
	--set 'ingress.hosts[0].paths[0].path=/' --set 'ingress.hosts[0].paths[0].pathType=Everything'
refused "$l" 'protocol' --set 'networkPolicy.egress.dns.ports[0].port=53' --set 'networkPolicy.egress.dns.ports[0].protocol=DNS'
refused "$l" 'mountPath' --set 'extraVolumeMounts[0].name=ca'
refused "$l" 'serviceAccount/annotations' --set-json 'serviceAccount.annotations={"a":1}'
refused "$l" 'tests/enabled' --set-string tests.enabled=yes
refused "$l" 'ingres' --set ingres.enabled=true
