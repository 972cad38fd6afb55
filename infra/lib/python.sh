# The project's virtualenv in .venv, installed from pyproject.toml (re-installed when it changes).
SLUICE_PYTHON="$SLUICE_ROOT/.venv/bin/python"

python_env_ensure() {
  local stamp="$SLUICE_ROOT/.venv/.sluice-stamp" want
  want=$(sha256sum "$SLUICE_ROOT/pyproject.toml" | cut -c1-16)
  [ -x "$SLUICE_PYTHON" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  step "python: installing Sluice and its dependencies into .venv"
  local log="$SLUICE_LOG_DIR/pip.log"
  [ -x "$SLUICE_PYTHON" ] || python3 -m venv "$SLUICE_ROOT/.venv" >"$log" 2>&1 || { need_packages python3-venv; python3 -m venv "$SLUICE_ROOT/.venv"; }
  "$SLUICE_PYTHON" -m pip install -q -e "$SLUICE_ROOT[dev]" >>"$log" 2>&1 \
    || fail python "$log" "check that PyPI is reachable (pip config list)"
  echo "$want" >"$stamp"
}
