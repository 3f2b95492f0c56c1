{{- define "nosana-secrets.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nosana-secrets.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "nosana-secrets.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nosana-secrets.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nosana-secrets.labels" -}}
{{ include "nosana-secrets.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "nosana-secrets.secretName" -}}
{{- .Values.secret.existingSecret | default (include "nosana-secrets.fullname" .) -}}
{{- end -}}

{{- define "nosana-secrets.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "nosana-secrets.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "nosana-secrets.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- /* A config value as the env var's text: strings as they are, numbers
without an exponent (YAML gives 67108864 as a float), bools as true/false;
"" for unset (null or ""). */ -}}
{{- define "nosana-secrets.envText" -}}
{{- if kindIs "string" . -}}
{{- . -}}
{{- else if not (kindIs "invalid" .) -}}
{{- toJson . -}}
{{- end -}}
{{- end -}}

{{- /* The port of config.METRICS_LISTEN ("" when unset), after the checks
that make it usable from outside the pod. */ -}}
{{- define "nosana-secrets.metricsPort" -}}
{{- $listen := include "nosana-secrets.envText" .Values.config.METRICS_LISTEN -}}
{{- if $listen -}}
{{- $port := regexFind "[0-9]+$" $listen -}}
{{- $host := trimSuffix (print ":" $port) $listen | trimPrefix "[" | trimSuffix "]" -}}
{{- if or (not $port) (not (hasSuffix (print ":" $port) $listen)) (lt (int $port) 1) (gt (int $port) 65535) -}}
{{- fail (printf "config.METRICS_LISTEN %q must be host:port with a port from 1 to 65535, e.g. \":9124\"" $listen) -}}
{{- end -}}
{{- if eq (int $port) 4124 -}}
{{- fail "config.METRICS_LISTEN must name another port than the API's 4124" -}}
{{- end -}}
{{- if or (hasPrefix "127." $host) (eq $host "localhost") (eq $host "::1") -}}
{{- fail (printf "config.METRICS_LISTEN %q is a loopback address: nothing outside the pod could scrape it; use \":%s\"" $listen $port) -}}
{{- end -}}
{{- $port -}}
{{- end -}}
{{- end -}}

{{- /* Names the chart sets itself: config and extraEnv may not set them
too (a second entry for one name is a duplicate the API server rejects on
apply or silently resolves, depending on the client). */ -}}
{{- define "nosana-secrets.checkEnv" -}}
{{- $owned := list "PORT" "LISTEN" "JWT_SECRET" "JWT_SECRET_FILE" "MASTER_KEY" "MASTER_KEY_FILE" -}}
{{- range $name, $value := .Values.config -}}
{{- if and (has $name $owned) (include "nosana-secrets.envText" $value) -}}
{{- fail (printf "config.%s: the chart sets %s itself (the port is 4124, the keys come from the Secret as files)" $name $name) -}}
{{- end -}}
{{- end -}}
{{- $owned = append $owned "STORAGE_CONNECTION" -}}
{{- $seen := dict -}}
{{- range .Values.extraEnv -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "extraEnv: %s is listed twice" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- if has .name $owned -}}
{{- fail (printf "extraEnv: %s is set by the chart (STORAGE_CONNECTION: use the Secret or config.STORAGE_CONNECTION)" .name) -}}
{{- end -}}
{{- if hasKey $.Values.config .name -}}
{{- if include "nosana-secrets.envText" (index $.Values.config .name) -}}
{{- fail (printf "extraEnv: %s is also set in config; set it in one place" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* The shared-store guard, wherever STORAGE_CONNECTION comes from that
the chart can see: config.STORAGE_CONNECTION, else the chart's Secret.
(An existingSecret's own value is out of the chart's sight.) */ -}}
{{- define "nosana-secrets.checkStore" -}}
{{- $uri := include "nosana-secrets.envText" .Values.config.STORAGE_CONNECTION -}}
{{- $from := "config.STORAGE_CONNECTION" -}}
{{- if and (not $uri) (not .Values.secret.existingSecret) -}}
{{- $uri = required "secret.storageConnection (or secret.existingSecret, or config.STORAGE_CONNECTION) is required" .Values.secret.storageConnection -}}
{{- $from = "secret.storageConnection" -}}
{{- end -}}
{{- $scheme := lower (regexFind "^[A-Za-z][A-Za-z0-9+.-]*:" (trim $uri)) -}}
{{- if and $uri (or (eq $scheme "sqlite:") (eq $scheme "memory:") (not $scheme)) -}}
{{- fail (printf "%s: replicas need a shared store (PostgreSQL, MySQL, MongoDB or Redis), not sqlite, memory or a file path" $from) -}}
{{- end -}}
{{- end -}}

{{- /* PUBLIC_URL: config's, else the first Ingress host's. */ -}}
{{- define "nosana-secrets.publicURL" -}}
{{- $url := include "nosana-secrets.envText" .Values.config.PUBLIC_URL -}}
{{- if $url -}}
{{- $url -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- $host := (first .Values.ingress.hosts).host -}}
{{- $tls := false -}}
{{- range .Values.ingress.tls -}}
{{- if has $host (.hosts | default list) -}}{{- $tls = true -}}{{- end -}}
{{- end -}}
{{- printf "%s://%s" (ternary "https" "http" $tls) $host -}}
{{- end -}}
{{- end -}}

{{- /* The helm test Pod's labels: not the Service's selector (it must not
receive API traffic), but named so a NetworkPolicy can let it in. */ -}}
{{- define "nosana-secrets.testSelectorLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end -}}
