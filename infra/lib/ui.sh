# What the web UI and its browser tests need: htmx (pinned, from the npm registry, served by
# the API from the package — never from a CDN) and Debian's chromium + chromium-driver
# (Selenium drives them headless in tests/integration/ui).
HTMX_VERSION=2.0.4
HTMX_SHA256=e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447
SLUICE_HTMX="$SLUICE_ROOT/orchestrator/ui/static/vendor/htmx.min.js"

ui_assets_ensure() {
  if [ -f "$SLUICE_HTMX" ] && echo "$HTMX_SHA256  $SLUICE_HTMX" | sha256sum -c --status; then return 0; fi
  command -v npm >/dev/null || need_packages npm
  step "ui: htmx $HTMX_VERSION from the npm registry"
  local tmp log="$SLUICE_LOG_DIR/npm.log"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack -q "htmx.org@$HTMX_VERSION" >"$log" 2>&1 && tar xzf "htmx.org-$HTMX_VERSION.tgz") \
    || fail htmx "$log" "check that the npm registry is reachable (npm config get registry)"
  mkdir -p "$(dirname "$SLUICE_HTMX")"
  cp "$tmp/package/dist/htmx.min.js" "$SLUICE_HTMX"
  rm -rf "$tmp"
  echo "$HTMX_SHA256  $SLUICE_HTMX" | sha256sum -c --status \
    || fail htmx "$SLUICE_HTMX" "htmx.min.js $HTMX_VERSION does not match its pinned SHA-256"
}

browser_ensure() { need_packages chromium chromium-driver; }
