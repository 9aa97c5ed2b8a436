{{/* Names, labels and the pieces shared by the worker Deployments and the migration Job. */}}

{{- define "write-batcher.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "write-batcher.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "write-batcher.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "write-batcher.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: write-batcher
{{- with .Values.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* metadata.annotations of every object: additionalAnnotations, then the object's own. */}}
{{- define "write-batcher.annotations" -}}
{{- $all := merge (dict) (.own | default (dict)) .root.Values.additionalAnnotations -}}
{{- if $all -}}
annotations:
  {{- toYaml $all | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The Prometheus job of a component's scrape target, and its OTEL_SERVICE_NAME: one name, used
by the ServiceMonitor, deploy/compose/prometheus.yml and the alerts (main-service,
batcher-service).
*/}}
{{- define "write-batcher.jobName" -}}
{{- printf "%s-service" . -}}
{{- end }}

{{/* Selector labels of one component; call with (dict "root" $ "component" "main"). */}}
{{- define "write-batcher.selectorLabels" -}}
app.kubernetes.io/name: {{ include "write-batcher.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "write-batcher.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "write-batcher.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "write-batcher.databaseSecretName" -}}
{{- default (printf "%s-database" (include "write-batcher.fullname" .)) .Values.database.existingSecret }}
{{- end }}

{{- define "write-batcher.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}database-url{{ end }}
{{- end }}

{{- define "write-batcher.image" -}}
{{- if .values.image.digest }}
{{- printf "%s@%s" .values.image.repository .values.image.digest }}
{{- else }}
{{- printf "%s:%s" .values.image.repository (default .root.Chart.AppVersion .root.Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "write-batcher.tablesConfigMap" -}}
{{- default (printf "%s-tables" (include "write-batcher.fullname" .)) .Values.tablesConfigMap }}
{{- end }}

{{/* The table spec file: `tables` from values, else the demo's (files/tables.yaml). */}}
{{- define "write-batcher.tablesSpec" -}}
{{- if .Values.tables }}
{{- toYaml (dict "tables" .Values.tables) }}
{{- else }}
{{- required "files/tables.yaml is missing from the chart: run `make chart-files`" (.Files.Get "files/tables.yaml") }}
{{- end }}
{{- end }}

{{/* Where the batcher's table spec is mounted (WRITE_TABLES_FILE) and the backfill sources Secret. */}}
{{- define "write-batcher.tablesDir" -}}/etc/write-batcher/tables{{- end }}
{{- define "write-batcher.backfillSourcesDir" -}}/etc/write-batcher/backfill-sources{{- end }}

{{- define "write-batcher.tablesEnv" -}}
- name: WRITE_TABLES_FILE
  value: {{ printf "%s/tables.yaml" (include "write-batcher.tablesDir" .) | quote }}
{{- end }}

{{/* Environment every process gets: Temporal connection (the SDK's names), logging, tracing. */}}
{{- define "write-batcher.commonEnv" -}}
- name: TEMPORAL_ADDRESS
  value: {{ .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
{{- if .Values.temporal.tls.enabled }}
- name: TEMPORAL_TLS
  value: "true"
{{- if .Values.temporal.tls.existingSecret }}
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: /etc/temporal-tls/{{ .Values.temporal.tls.certKey }}
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: /etc/temporal-tls/{{ .Values.temporal.tls.keyKey }}
{{- if .Values.temporal.tls.caKey }}
- name: TEMPORAL_TLS_SERVER_CA_CERT_PATH
  value: /etc/temporal-tls/{{ .Values.temporal.tls.caKey }}
{{- end }}
{{- end }}
{{- if .Values.temporal.tls.serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ .Values.temporal.tls.serverName | quote }}
{{- end }}
{{- end }}
{{- if .Values.temporal.apiKey.existingSecret }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.temporal.apiKey.existingSecret }}
      key: {{ .Values.temporal.apiKey.key }}
{{- end }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if .Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.otel.endpoint | quote }}
{{- end }}
{{- end }}

{{- define "write-batcher.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "write-batcher.databaseSecretName" . }}
      key: {{ include "write-batcher.databaseSecretKey" . }}
{{- end }}

{{- define "write-batcher.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/temporal-tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "write-batcher.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/*
The migration hook's own ServiceAccount and database Secret: hook copies, deleted once the
hook phase succeeds (and before the next one), so none outlives `helm uninstall` nor blocks
an upgrade with "already exists". The workers use the regular (release-owned) ones, and so
does the Job without hooks (migration.useHelmHooks=false): it is applied with them.
*/}}
{{- define "write-batcher.migrationHooks" -}}
{{- if and .Values.migration.enabled .Values.migration.useHelmHooks }}true{{ end }}
{{- end }}

{{- define "write-batcher.migrationServiceAccountName" -}}
{{- if not (include "write-batcher.migrationHooks" .) }}
{{- include "write-batcher.serviceAccountName" . }}
{{- else if .Values.serviceAccount.create }}
{{- printf "%s-migrate" (include "write-batcher.fullname" .) }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "write-batcher.migrationSecretName" -}}
{{- if include "write-batcher.migrationHooks" . }}
{{- default (printf "%s-migrate-database" (include "write-batcher.fullname" .)) .Values.database.existingSecret }}
{{- else }}
{{- include "write-batcher.databaseSecretName" . }}
{{- end }}
{{- end }}

{{- define "write-batcher.hookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end }}

{{/* One probe from values: `enabled: false` drops it, the rest is a Probe. */}}
{{- define "write-batcher.probe" -}}
{{- if and .probe (ne (toString .probe.enabled) "false") -}}
{{ .name }}:
  {{- toYaml (omit .probe "enabled") | nindent 2 }}
{{- end }}
{{- end }}

{{/* The migration Job's spec; its hash names the Job when it is not a hook. */}}
{{- define "write-batcher.migrationJobSpec" -}}
backoffLimit: {{ .Values.migration.backoffLimit }}
activeDeadlineSeconds: {{ .Values.migration.activeDeadlineSeconds }}
{{- if include "write-batcher.migrationHooks" . }}
{{- /* Not without hooks: a GitOps tool would re-create the Job it sees deleted. */}}
ttlSecondsAfterFinished: 600
{{- end }}
template:
  metadata:
    labels:
      {{- include "write-batcher.labels" . | nindent 6 }}
      app.kubernetes.io/component: migrate
  spec:
    restartPolicy: Never
    serviceAccountName: {{ include "write-batcher.migrationServiceAccountName" . }}
    automountServiceAccountToken: false
    {{- with .Values.imagePullSecrets }}
    imagePullSecrets:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- toYaml .Values.podSecurityContext | nindent 6 }}
    containers:
      - name: migrate
        image: {{ include "write-batcher.image" (dict "root" $ "values" .Values.batcher) | quote }}
        imagePullPolicy: {{ .Values.image.pullPolicy }}
        command: [python, -m, batcher_service, migrate]
        securityContext:
          {{- toYaml .Values.securityContext | nindent 10 }}
        env:
          - name: LOG_LEVEL
            value: {{ .Values.logLevel | quote }}
          - name: DATABASE_URL
            valueFrom:
              secretKeyRef:
                name: {{ include "write-batcher.migrationSecretName" . }}
                key: {{ include "write-batcher.databaseSecretKey" . }}
        resources:
          {{- toYaml .Values.migration.resources | nindent 10 }}
        volumeMounts:
          - name: tmp
            mountPath: /tmp
    volumes:
      - name: tmp
        emptyDir:
          sizeLimit: 16Mi
    {{- with .Values.batcher.nodeSelector }}
    nodeSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.batcher.tolerations }}
    tolerations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}

{{/*
Worker Versioning of one component, as YAML (deploymentName, buildId, label); empty when off.
Call with (dict "root" $ "component" "main" "values" $.Values.main). The build id defaults to
the image tag; the label is its Kubernetes-safe form (the Worker Controller's label name).
*/}}
{{- define "write-batcher.versioning" -}}
{{- $v := .values.versioning -}}
{{- if $v.enabled -}}
{{- $name := default (printf "%s-%s" (include "write-batcher.fullname" .root) .component) $v.deploymentName -}}
{{- $build := default (default .root.Chart.AppVersion .root.Values.image.tag) $v.buildId | toString -}}
{{- if contains "." $name -}}
{{- fail (printf "write-batcher: %s.versioning.deploymentName %q must not contain a dot (Temporal's version string is <name>.<build id>): set %s.versioning.deploymentName" .component $name .component) -}}
{{- end -}}
deploymentName: {{ $name | quote }}
buildId: {{ $build | quote }}
label: {{ regexReplaceAll "[^A-Za-z0-9._-]" $build "-" | trunc 63 | trimAll "-._" | quote }}
{{- end -}}
{{- end }}

{{/*
The name of a component's Deployment (and its HPA's or ScaledObject's target): one per build
id when versioned, so the previous version keeps running beside the new one until it drains.
*/}}
{{- define "write-batcher.workloadName" -}}
{{- $ver := include "write-batcher.versioning" . | fromYaml -}}
{{- $base := printf "%s-%s" (include "write-batcher.fullname" .root) .component -}}
{{- if $ver -}}
{{- printf "%s-%s" $base (lower $ver.label | replace "." "-" | replace "_" "-") | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $base -}}
{{- end -}}
{{- end }}
