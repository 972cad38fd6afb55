# HAProxy from Debian's packages (bookworm: 2.6), master-worker mode: the admin socket
# (runtime API) at $SLUICE_STATE_DIR/haproxy/admin.sock, the master CLI at master.sock,
# the Prometheus exporter on 127.0.0.1:8405/metrics, and one frontend port per environment
# (127.0.0.1:21000-21999) from files the deployer writes under haproxy/envs/.

HAPROXY_DIR="$SLUICE_STATE_DIR/haproxy"
HAPROXY_METRICS_PORT=${SLUICE_HAPROXY_METRICS_PORT:-8405}

haproxy_install() { need_packages haproxy; }

haproxy_start() {
  haproxy_health && return 0
  step "haproxy: starting (admin socket $HAPROXY_DIR/admin.sock, metrics :$HAPROXY_METRICS_PORT)"
  mkdir -p "$HAPROXY_DIR/envs"
  sed -e "s|@DIR@|$HAPROXY_DIR|g" -e "s|@ENVS@|$HAPROXY_DIR/envs|g" \
    -e "s|@METRICS_PORT@|$HAPROXY_METRICS_PORT|g" \
    "$SLUICE_ROOT/infra/haproxy/haproxy.cfg.in" >"$HAPROXY_DIR/haproxy.cfg"
  [ -s "$HAPROXY_DIR/server-state" ] || echo 1 >"$HAPROXY_DIR/server-state"
  /usr/sbin/haproxy -c -q -f "$HAPROXY_DIR/haproxy.cfg" -f "$HAPROXY_DIR/envs" \
    >"$SLUICE_LOG_DIR/haproxy.log" 2>&1 || fail haproxy "$SLUICE_LOG_DIR/haproxy.log" "a bad file under $HAPROXY_DIR/envs?"
  # Started from its own folder: the master re-reads its files from its working directory on
  # every reload, so a checkout that was started from and later deleted must not be it.
  (cd "$HAPROXY_DIR" && start_daemon haproxy "$SLUICE_LOG_DIR/haproxy.log" /usr/sbin/haproxy \
    -W -S "$HAPROXY_DIR/master.sock" -f "$HAPROXY_DIR/haproxy.cfg" -f "$HAPROXY_DIR/envs")
  wait_for 30 haproxy_health || fail haproxy "$SLUICE_LOG_DIR/haproxy.log" "another process on :$HAPROXY_METRICS_PORT?"
}

haproxy_health() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$HAPROXY_METRICS_PORT/health"; }
haproxy_stop() { stop_daemon haproxy; }
haproxy_address() { echo "$HAPROXY_DIR/admin.sock, metrics http://127.0.0.1:$HAPROXY_METRICS_PORT/metrics"; }
haproxy_version() { /usr/sbin/haproxy -v 2>/dev/null | awk 'NR==1{print $3}'; }
