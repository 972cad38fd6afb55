# MinIO (S3 API) built with `go install` from its Go module, cached; data in the state dir.

MINIO_MODULE=github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_BIN="$SLUICE_CACHE_DIR/bin/minio"
export MINIO_ROOT_USER=${SLUICE_S3_ACCESS_KEY:-sluice}
export MINIO_ROOT_PASSWORD=${SLUICE_S3_SECRET_KEY:-sluice-dev-secret}

minio_install() {
  [ -x "$MINIO_BIN" ] && return 0
  command -v go >/dev/null || need_packages golang-go
  step "minio: building $MINIO_MODULE with go install (one time, a few minutes)"
  local log="$SLUICE_LOG_DIR/minio-build.log"
  (cd /tmp && GOBIN="$SLUICE_CACHE_DIR/bin" GOFLAGS=-trimpath go install "$MINIO_MODULE") >"$log" 2>&1 \
    || fail minio "$log" "check that the Go module proxy is reachable (go env GOPROXY); disk space (df -h)"
}

minio_start() {
  minio_health && return 0
  step "minio: starting on 127.0.0.1:9000 (console :9001)"
  mkdir -p "$SLUICE_STATE_DIR/minio/data"
  start_daemon minio "$SLUICE_LOG_DIR/minio.log" env MINIO_BROWSER=off \
    "$MINIO_BIN" server "$SLUICE_STATE_DIR/minio/data" --quiet --address 127.0.0.1:9000 --console-address 127.0.0.1:9001
  wait_for 60 minio_health || fail minio "$SLUICE_LOG_DIR/minio.log" "another process on :9000? try infra/down minio; infra/up"
}

minio_health() { curl -fs -o /dev/null --max-time 2 http://127.0.0.1:9000/minio/health/live; }
minio_stop() { stop_daemon minio; }
minio_address() { echo "http://127.0.0.1:9000"; }
minio_version() { go version -m "$MINIO_BIN" 2>/dev/null | awk '$1=="mod"{print $3; exit}'; }
