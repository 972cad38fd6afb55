# Alertmanager from Debian's packages on 127.0.0.1:9193: Prometheus sends it every firing and
# resolved alert of infra/prometheus/rules/, it routes them to a webhook (and to Slack and
# e-mail when configured). Settings:
#   SLUICE_ALERT_WEBHOOK_URL  where alerts are POSTed (Alertmanager's webhook JSON);
#                             default http://127.0.0.1:9194/alerts
#   SLUICE_ALERT_SLACK_URL    a Slack incoming-webhook URL (optional)
#   SLUICE_ALERT_EMAIL_TO     an address to mail alerts to (optional), through
#                             SLUICE_SMTP_HOST:SLUICE_SMTP_PORT from SLUICE_SMTP_FROM

alertmanager_install() { need_packages prometheus-alertmanager; }

# alertmanager_config TEMPLATE: the routing config on stdout, receivers from the environment.
alertmanager_config() {
  sed -e "s|@WEBHOOK_URL@|${SLUICE_ALERT_WEBHOOK_URL:-http://127.0.0.1:9194/alerts}|" "$1"
  if [ -n "${SLUICE_ALERT_SLACK_URL:-}" ]; then
    printf '    slack_configs:\n      - api_url: "%s"\n        send_resolved: true\n' "$SLUICE_ALERT_SLACK_URL"
  fi
  if [ -n "${SLUICE_ALERT_EMAIL_TO:-}" ]; then
    printf '    email_configs:\n      - to: "%s"\n        from: "%s"\n        smarthost: "%s:%s"\n        require_tls: false\n        send_resolved: true\n' \
      "$SLUICE_ALERT_EMAIL_TO" "${SLUICE_SMTP_FROM:-sluice@localhost}" "${SLUICE_SMTP_HOST:-127.0.0.1}" "${SLUICE_SMTP_PORT:-25}"
  fi
}

alertmanager_start() {
  alertmanager_health && return 0
  step "alertmanager: starting on 127.0.0.1:9193"
  local dir="$SLUICE_STATE_DIR/alertmanager"
  mkdir -p "$dir/data"
  alertmanager_config "$SLUICE_ROOT/infra/alertmanager/alertmanager.yml.in" >"$dir/alertmanager.yml"
  start_daemon alertmanager "$SLUICE_LOG_DIR/alertmanager.log" /usr/bin/prometheus-alertmanager \
    --config.file="$dir/alertmanager.yml" --storage.path="$dir/data" \
    --web.listen-address=127.0.0.1:9193 --cluster.listen-address=
  wait_for 60 alertmanager_health || fail alertmanager "$SLUICE_LOG_DIR/alertmanager.log" "another process on :9193?"
}

alertmanager_health() { curl -fs -o /dev/null --max-time 2 http://127.0.0.1:9193/-/ready; }
alertmanager_stop() { stop_daemon alertmanager; }
alertmanager_address() { echo "http://127.0.0.1:9193"; }
alertmanager_version() { /usr/bin/prometheus-alertmanager --version 2>&1 | awk 'NR==1{print $3}'; }
