# Prometheus from Debian's packages on 127.0.0.1:9090, scraping itself and every Sluice
# process listed in the file_sd targets under the state dir.

prometheus_install() { need_packages prometheus; }

prometheus_start() {
  prometheus_health && return 0
  step "prometheus: starting on 127.0.0.1:9090"
  local dir="$SLUICE_STATE_DIR/prometheus"
  mkdir -p "$dir/data" "$dir/targets"
  [ -f "$dir/targets/sluice.json" ] || cp "$SLUICE_ROOT/infra/prometheus/targets.json" "$dir/targets/sluice.json"
  sed -e "s|@TARGETS@|$dir/targets|" -e "s|@RULES@|$SLUICE_ROOT/infra/prometheus/rules|" \
    -e "s|@ALERTMANAGER@|127.0.0.1:9193|" \
    "$SLUICE_ROOT/infra/prometheus/prometheus.yml.in" >"$dir/prometheus.yml"
  start_daemon prometheus "$SLUICE_LOG_DIR/prometheus.log" /usr/bin/prometheus \
    --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address=127.0.0.1:9090 --web.enable-lifecycle --storage.tsdb.retention.time=7d
  wait_for 60 prometheus_health || fail prometheus "$SLUICE_LOG_DIR/prometheus.log" "another process on :9090?"
}

prometheus_health() { curl -fs -o /dev/null --max-time 2 http://127.0.0.1:9090/-/ready; }
prometheus_stop() { stop_daemon prometheus; }
prometheus_address() { echo "http://127.0.0.1:9090"; }
prometheus_version() { /usr/bin/prometheus --version 2>&1 | awk 'NR==1{print $3}'; }
