{{/* Cross-field checks values.schema.json cannot express with a clear message. */}}
{{- define "write-batcher.validate" -}}
{{- if and (not .Values.database.existingSecret) (not .Values.database.url) -}}
{{- fail "write-batcher: set database.url or database.existingSecret (the batcher and the migration need DATABASE_URL)" -}}
{{- end -}}
{{- if and .Values.main.autoscaling.enabled (gt (int .Values.main.autoscaling.minReplicas) (int .Values.main.autoscaling.maxReplicas)) -}}
{{- fail "write-batcher: main.autoscaling.minReplicas must not exceed main.autoscaling.maxReplicas" -}}
{{- end -}}
{{- end -}}
