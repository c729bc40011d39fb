{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "confmgr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object name prefix: the release name, plus the chart name unless it contains it. */}}
{{- define "confmgr.fullname" -}}
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

{{- define "confmgr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "confmgr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "confmgr.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "confmgr.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: confmgr
{{- end }}

{{/* repository[:tag][@digest] for image values {repository, tag, digest}. */}}
{{- define "confmgr.imageRef" -}}
{{- $img := index . 0 }}{{- $root := index . 1 }}
{{- $ref := printf "%s:%s" $img.repository (default $root.Chart.AppVersion $img.tag) }}
{{- if $img.digest }}{{ printf "%s@%s" $ref $img.digest }}{{ else }}{{ $ref }}{{ end }}
{{- end }}

{{- define "confmgr.serviceAccountName" -}}
{{- default (include "confmgr.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* Whether the Pods need AWS credentials (KMS or RDS IAM auth). */}}
{{- define "confmgr.needsAws" -}}
{{- if or .Values.kms.enabled .Values.database.iamAuth.enabled }}true{{ end }}
{{- end }}

{{- define "confmgr.tlsSecret" -}}
{{- default (printf "%s-tls" (include "confmgr.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "confmgr.cnpgCluster" -}}
{{- printf "%s-postgres" (include "confmgr.fullname" .) | trunc 50 | trimSuffix "-" }}
{{- end }}

{{- define "confmgr.dbClientSecret" -}}
{{- default (printf "%s-postgres-client" (include "confmgr.fullname" .)) .Values.database.clientCert.secretName }}
{{- end }}

{{- define "confmgr.dbHost" -}}
{{- if .Values.cnpg.enabled }}{{ include "confmgr.cnpgCluster" . }}-rw{{ else }}{{ .Values.database.host }}{{ end }}
{{- end }}

{{/* Where the PostgreSQL CA bundle comes from: the client certificate's Secret by default. */}}
{{- define "confmgr.dbCaVolume" -}}
{{- $db := .Values.database }}
{{- if $db.ca.configMapName }}
configMap:
  name: {{ $db.ca.configMapName }}
{{- else }}
secret:
  secretName: {{ default (include "confmgr.dbClientSecret" .) $db.ca.secretName }}
  defaultMode: 0440
{{- end }}
  items:
    - key: {{ $db.ca.key }}
      path: ca.crt
{{- end }}

{{- define "confmgr.databaseUrl" -}}
{{- $db := .Values.database }}
{{- $url := printf "postgres://%s@%s:%d/%s?sslmode=%s&sslrootcert=/etc/confmgr/postgres-ca/ca.crt" $db.user (include "confmgr.dbHost" .) (int $db.port) $db.name $db.sslMode }}
{{- if $db.clientCert.enabled }}
{{- $url = printf "%s&sslcert=/etc/confmgr/postgres-client/tls.crt&sslkey=/etc/confmgr/postgres-client/tls.key" $url }}
{{- end }}
{{- $url }}
{{- end }}

{{/* Environment for every container running confmgr-server: database access, plus the
     root key or KMS unless called with "db" (the migration Job needs no key). */}}
{{- define "confmgr.serverEnv" -}}
{{- $root := index . 0 }}{{- $scope := index . 1 }}
{{- $v := $root.Values }}
{{- if $v.database.urlSecret.name }}
- name: CONFMGR_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.database.urlSecret.name }}
      key: {{ $v.database.urlSecret.key }}
{{- else }}
- name: CONFMGR_DATABASE_URL
  value: {{ include "confmgr.databaseUrl" $root | quote }}
{{- end }}
{{- if $v.database.pinTrust }}
- name: SSL_CERT_FILE
  value: /etc/confmgr/postgres-ca/ca.crt
{{- end }}
{{- if $v.database.passwordSecret.name }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.database.passwordSecret.name }}
      key: {{ $v.database.passwordSecret.key }}
{{- end }}
{{- if $v.database.iamAuth.enabled }}
- name: CONFMGR_DATABASE_IAM_AUTH
  value: "true"
{{- with $v.database.iamAuth.region }}
- name: CONFMGR_DATABASE_IAM_REGION
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if ne $scope "db" }}
{{- if $v.kms.enabled }}
- name: CONFMGR_KMS_KEY_ID
  value: {{ required "kms.keyId is required with kms.enabled" $v.kms.keyId | quote }}
{{- with $v.kms.context }}
- name: CONFMGR_KMS_CONTEXT
  value: {{ . | quote }}
{{- end }}
{{- with $v.kms.endpoint }}
- name: CONFMGR_KMS_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: CONFMGR_KMS_TIMEOUT_SECS
  value: {{ $v.kms.timeoutSecs | int64 | quote }}
{{- if $v.kms.caConfigMap }}
- name: CONFMGR_KMS_CA_FILE
  value: /etc/confmgr/kms-ca/ca.crt
{{- else if $v.database.pinTrust }}
- name: CONFMGR_KMS_CA_FILE
  value: /etc/ssl/certs/ca-certificates.crt
{{- end }}
{{- with $v.kms.region }}
- name: AWS_REGION
  value: {{ . | quote }}
{{- end }}
{{- else }}
- name: CONFMGR_ROOT_KEY
  valueFrom:
    secretKeyRef:
      name: {{ default (printf "%s-root-key" (include "confmgr.fullname" $root)) $v.rootKey.secretName }}
      key: {{ $v.rootKey.key }}
{{- end }}
{{- end }}
{{- end }}

{{/* Volumes for the database files (and the KMS CA). */}}
{{- define "confmgr.dbVolumes" -}}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 16Mi
- name: postgres-ca
  {{- include "confmgr.dbCaVolume" . | trim | nindent 2 }}
{{- if .Values.database.clientCert.enabled }}
- name: postgres-client
  secret:
    secretName: {{ include "confmgr.dbClientSecret" . }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- if and .Values.kms.enabled .Values.kms.caConfigMap }}
- name: kms-ca
  configMap:
    name: {{ .Values.kms.caConfigMap }}
{{- end }}
{{- end }}

{{- define "confmgr.dbVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: postgres-ca
  mountPath: /etc/confmgr/postgres-ca
  readOnly: true
{{- if .Values.database.clientCert.enabled }}
- name: postgres-client
  mountPath: /etc/confmgr/postgres-client
  readOnly: true
{{- end }}
{{- if and .Values.kms.enabled .Values.kms.caConfigMap }}
- name: kms-ca
  mountPath: /etc/confmgr/kms-ca
  readOnly: true
{{- end }}
{{- end }}

{{/* Pod-level settings shared by the server Pods and the Jobs. */}}
{{- define "confmgr.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The API's URL scheme, for probes and clients. */}}
{{- define "confmgr.scheme" -}}
{{- if .Values.tls.enabled }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}
