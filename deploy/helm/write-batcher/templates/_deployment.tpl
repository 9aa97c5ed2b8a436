{{/* One worker Deployment; call with (dict "root" $ "component" "main" "values" $.Values.main "extraEnv" list).
"tables": true mounts the table spec (the batcher validates and writes by it; callers need none). */}}
{{- define "write-batcher.deployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $sel := dict "root" $root "component" .component -}}
{{- $ver := include "write-batcher.versioning" (dict "root" $root "component" .component "values" $v) | fromYaml -}}
{{- $selector := include "write-batcher.selectorLabels" $sel | fromYaml -}}
{{- if $ver }}{{ $_ := set $selector "temporal.io/build-id" $ver.label }}{{ end -}}
{{- /* Versioned: kept by `helm upgrade` (a new build id is a new Deployment), so the old
version serves its pinned workflows until it drains; deleted by hand (docs/operations.md). */}}
{{- $own := dict -}}
{{- if $ver }}{{ $_ := set $own "helm.sh/resource-policy" "keep" }}{{ end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "write-batcher.workloadName" (dict "root" $root "component" .component "values" $v) }}
  labels:
    {{- include "write-batcher.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    {{- with $ver }}
    temporal.io/build-id: {{ .label }}
    {{- end }}
  {{- with (include "write-batcher.annotations" (dict "root" $root "own" $own)) }}{{- . | nindent 2 }}{{- end }}
spec:
  {{- if not (or $v.autoscaling.enabled $v.keda.enabled) }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- toYaml $selector | nindent 6 }}
  template:
    metadata:
      {{- /* The chart's labels win over podLabels: the selector must keep matching. */}}
      {{- $labels := merge (deepCopy $selector) (include "write-batcher.labels" $root | fromYaml) ($v.podLabels | default dict) }}
      labels:
        {{- toYaml $labels | nindent 8 }}
      annotations:
        checksum/database: {{ printf "%s|%s" $root.Values.database.url $root.Values.database.existingSecret | sha256sum | trunc 16 }}
        {{- if .tables }}
        checksum/tables: {{ printf "%s|%s" (include "write-batcher.tablesSpec" $root) $root.Values.tablesConfigMap | sha256sum | trunc 16 }}
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "write-batcher.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .component }}
          image: {{ include "write-batcher.image" (dict "root" $root "values" $v) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          ports:
            - name: metrics
              containerPort: {{ $v.metricsPort }}
              protocol: TCP
          env:
            {{- include "write-batcher.commonEnv" $root | nindent 12 }}
            {{- if .tables }}
            {{- include "write-batcher.tablesEnv" $root | nindent 12 }}
            {{- end }}
            - name: METRICS_PORT
              value: {{ $v.metricsPort | quote }}
            - name: OTEL_SERVICE_NAME
              value: {{ include "write-batcher.jobName" .component | quote }}
            {{- with $ver }}
            - name: TEMPORAL_DEPLOYMENT_NAME
              value: {{ .deploymentName | quote }}
            - name: TEMPORAL_WORKER_BUILD_ID
              value: {{ .buildId | quote }}
            {{- end }}
            {{- with .extraEnv }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- range $name, $value := $v.env }}
            - name: {{ $name }}
              value: {{ $value | quote }}
            {{- end }}
            {{- with $v.additionalEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with (include "write-batcher.probe" (dict "name" "startupProbe" "probe" $v.startupProbe)) }}{{- . | nindent 10 }}{{- end }}
          {{- with (include "write-batcher.probe" (dict "name" "livenessProbe" "probe" $v.livenessProbe)) }}{{- . | nindent 10 }}{{- end }}
          {{- with (include "write-batcher.probe" (dict "name" "readinessProbe" "probe" $v.readinessProbe)) }}{{- . | nindent 10 }}{{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          volumeMounts:
            {{- include "write-batcher.volumeMounts" $root | nindent 12 }}
            {{- if .tables }}
            - name: tables
              mountPath: {{ include "write-batcher.tablesDir" $root }}
              readOnly: true
            {{- end }}
            {{- with .extraMounts }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $v.additionalVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        {{- include "write-batcher.volumes" $root | nindent 8 }}
        {{- if .tables }}
        - name: tables
          configMap:
            name: {{ include "write-batcher.tablesConfigMap" $root }}
        {{- end }}
        {{- with .extraVolumes }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.additionalVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        {{- $c := . }}
        {{- if not $c.labelSelector }}
        {{- $c = merge (dict "labelSelector" (dict "matchLabels" (include "write-batcher.selectorLabels" $sel | fromYaml))) $c }}
        {{- end }}
        - {{- toYaml $c | nindent 10 }}
        {{- end }}
      {{- end }}
{{- end }}
