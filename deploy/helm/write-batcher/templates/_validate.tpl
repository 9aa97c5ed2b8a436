{{/* Cross-field checks values.schema.json cannot express with a clear message. */}}
{{- define "write-batcher.validate" -}}
{{- if and (not .Values.database.existingSecret) (not .Values.database.url) -}}
{{- fail "write-batcher: set database.url or database.existingSecret (the batcher and the migration need DATABASE_URL)" -}}
{{- end -}}
{{- range $component := list "main" "batcher" }}
{{- $v := index $.Values $component }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- fail (printf "write-batcher: %s.autoscaling.minReplicas must not exceed %s.autoscaling.maxReplicas" $component $component) -}}
{{- end -}}
{{- if and $v.keda.enabled (gt (int $v.keda.minReplicaCount) (int $v.keda.maxReplicaCount)) -}}
{{- fail (printf "write-batcher: %s.keda.minReplicaCount must not exceed %s.keda.maxReplicaCount" $component $component) -}}
{{- end -}}
{{- if and $v.keda.enabled (ne (empty $v.keda.workerDeploymentName) (empty $v.keda.workerDeploymentBuildId)) -}}
{{- fail (printf "write-batcher: set %s.keda.workerDeploymentName and %s.keda.workerDeploymentBuildId together (KEDA refuses one alone)" $component $component) -}}
{{- end -}}
{{- if and $v.keda.enabled $.Values.temporal.tls.enabled $.Values.temporal.tls.existingSecret (not $.Values.temporal.apiKey.existingSecret) (not $v.keda.authenticationRef) -}}
{{- fail (printf "write-batcher: the workers use mTLS (temporal.tls.existingSecret): give %s.keda.authenticationRef a TriggerAuthentication with cert, key (and ca) for KEDA's temporal scaler" $component) -}}
{{- end -}}
{{- if and $v.autoscaling.enabled $v.keda.enabled -}}
{{- fail (printf "write-batcher: enable %s.autoscaling or %s.keda, not both (KEDA makes its own HPA)" $component $component) -}}
{{- end -}}
{{- end -}}
{{- end -}}
