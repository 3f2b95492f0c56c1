# Sourced by .ci/run: the Helm chart (deploy/helm/nosana-secrets) through
# helm lint and helm template, and every rendered manifest through
# kubeconform -strict against the Kubernetes schemas. helm and kubeconform
# are built at pinned versions by the Go toolchain; the schemas are made
# here from the OpenAPI document in the k8s.io/kubernetes module (fetched
# through the Go module proxy like any module) by deploy/k8sschemas, since
# kubeconform's default schema site is out of reach. ServiceMonitor is a
# CRD (the Prometheus operator's), in no Kubernetes schema: it is skipped.

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

"$work/bin/helm" lint --strict "$chart" -f "$chart/ci/test-values.yaml"
# Everything on: the chart's own Secret, HPA, ServiceMonitor.
helm_check all -f "$chart/ci/test-values.yaml"
need "$work/helm-all.yaml" '^kind: HorizontalPodAutoscaler' '^kind: ServiceMonitor' '^kind: Secret' \
	'^kind: PodDisruptionBudget' 'minReplicas: 3'
# The defaults with a Secret of one's own: three replicas, probes, non-root, read-only.
helm_check existing --set secret.existingSecret=nosana-keys
need "$work/helm-existing.yaml" '^  replicas: 3$' 'path: /livez' 'path: /readyz' 'runAsNonRoot: true' \
	'runAsUser: 65532' 'readOnlyRootFilesystem: true' 'name: nosana-keys' 'key: storage-connection' \
	'^kind: PodDisruptionBudget' 'memory: 256Mi'
if grep -qE '^kind: (Secret|HorizontalPodAutoscaler|ServiceMonitor)$' "$work/helm-existing.yaml"; then
	echo "helm: the defaults render a Secret, HPA or ServiceMonitor" >&2
	exit 1
fi
# Refused: no Secret at all, and a store the replicas cannot share.
for bad in "" "--set secret.jwtSecret=ci-signing-key-of-at-least-32-bytes-long --set secret.masterKey=x --set secret.storageConnection=sqlite:///data/db.sqlite"; do
	# shellcheck disable=SC2086
	if "$work/bin/helm" template nosana "$chart" $bad >/dev/null 2>"$work/helm-err"; then
		echo "helm: template accepted '$bad'" >&2
		exit 1
	fi
	need "$work/helm-err" 'is required|shared store'
done
