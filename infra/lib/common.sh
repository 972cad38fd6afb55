# Shared helpers for infra/ scripts: paths, progress lines, waiting, process control.
# Sourced, never run. Every path can be moved with a SLUICE_* variable.

SLUICE_ROOT=${SLUICE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SLUICE_CACHE_DIR=${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}
SLUICE_STATE_DIR=${SLUICE_STATE_DIR:-$HOME/.local/state/sluice}
SLUICE_LOG_DIR=${SLUICE_LOG_DIR:-$SLUICE_STATE_DIR/logs}
SLUICE_RUN_DIR=${SLUICE_RUN_DIR:-$SLUICE_STATE_DIR/run}
SLUICE_KAFKA_BROKERS=${SLUICE_KAFKA_BROKERS:-1}
export SLUICE_ROOT SLUICE_CACHE_DIR SLUICE_STATE_DIR SLUICE_LOG_DIR SLUICE_RUN_DIR
mkdir -p "$SLUICE_CACHE_DIR" "$SLUICE_STATE_DIR" "$SLUICE_LOG_DIR" "$SLUICE_RUN_DIR"

if [ -t 1 ]; then _b=$'\e[1m'; _g=$'\e[32m'; _r=$'\e[31m'; _y=$'\e[33m'; _n=$'\e[0m'; else _b=; _g=; _r=; _y=; _n=; fi
_t0=$(date +%s)

step() { printf '%s[%4ss]%s %s\n' "$_b" "$(( $(date +%s) - _t0 ))" "$_n" "$*"; }
ok() { printf '        %sok%s  %s\n' "$_g" "$_n" "$*"; }
warn() { printf '        %swarn%s %s\n' "$_y" "$_n" "$*" >&2; }

# fail SERVICE LOGFILE HINT: name what broke, where to look, and what to try.
fail() {
  printf '\n%sFAILED%s %s\n  log:  %s\n  fix:  %s\n' "$_r" "$_n" "$1" "$2" "$3" >&2
  if [ -f "$2" ]; then echo "  last lines of the log:" >&2; tail -n 15 "$2" | sed 's/^/    /' >&2; fi
  exit 1
}

# wait_for SECONDS COMMAND...: poll COMMAND until it succeeds, at most SECONDS.
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.3
  done
}

# wait_while_alive SECONDS NAME COMMAND...: like wait_for, but give up at once if daemon NAME
# dies. For a service whose start time grows with its data (Kafka loads every partition).
wait_while_alive() {
  local deadline=$(( $(date +%s) + $1 )) name=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    pid_alive "$name" || return 1
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.3
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_daemon NAME LOGFILE COMMAND...: run COMMAND detached (own session), pid in RUN_DIR.
start_daemon() {
  local name=$1 log=$2; shift 2
  setsid nohup "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$SLUICE_RUN_DIR/$name.pid"
}

pid_alive() {
  local f="$SLUICE_RUN_DIR/$1.pid"
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# stop_daemon NAME: TERM, wait up to 30 s, then KILL.
stop_daemon() {
  local f="$SLUICE_RUN_DIR/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.3; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
}

apt_updated=
# need_packages PKG...: install the Debian packages that are missing (apt-get update once).
need_packages() {
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing Debian packages: ${missing[*]}"
  local log="$SLUICE_LOG_DIR/apt.log"
  if [ -z "$apt_updated" ]; then apt-get update -q >>"$log" 2>&1 || fail apt "$log" "check that Debian's mirror is reachable"; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
    || fail "apt (${missing[*]})" "$log" "run 'apt-get update' and retry; see the log for the failing package"
}
