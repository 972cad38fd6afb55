# Loads every service definition and knows their order. Sourced by up, down and status.
# shellcheck source=/dev/null
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for _svc in "$SLUICE_ROOT"/infra/services/*.sh; do source "$_svc"; done

ALL_SERVICES=(postgres kafka minio docker alertmanager prometheus haproxy)

# parse_args ARGS...: --brokers N and service names; sets SERVICES.
parse_args() {
  SERVICES=()
  SLUICE_BUILD_IMAGES=${SLUICE_BUILD_IMAGES:-0}
  while [ $# -gt 0 ]; do
    case $1 in
      --brokers) SLUICE_KAFKA_BROKERS=$2; shift ;;
      --brokers=*) SLUICE_KAFKA_BROKERS=${1#*=} ;;
      --images) SLUICE_BUILD_IMAGES=1 ;;
      -h|--help) echo "usage: $(basename "$0") [--brokers 1|3] [--images] [${ALL_SERVICES[*]}]"; exit 0 ;;
      *) [[ " ${ALL_SERVICES[*]} " == *" $1 "* ]] || { echo "unknown service '$1' (known: ${ALL_SERVICES[*]})" >&2; exit 2; }
         SERVICES+=("$1") ;;
    esac
    shift
  done
  [ ${#SERVICES[@]} -gt 0 ] || SERVICES=("${ALL_SERVICES[@]}")
  case $SLUICE_KAFKA_BROKERS in 1|3) ;; *) echo "--brokers takes 1 or 3" >&2; exit 2 ;; esac
  export SLUICE_KAFKA_BROKERS
}

# status_table: one row a service: name, address, version, state. Exit 1 if any is down.
status_table() {
  local s state down=0
  printf '\n%-13s %-54s %-36s %s\n' SERVICE ADDRESS VERSION STATE
  for s in "${ALL_SERVICES[@]}"; do
    if "${s}_health"; then state="${_g}up${_n}"; else state="${_r}down${_n}"; down=1; fi
    printf '%-13s %-54s %-36s %s\n' "$s" "$("${s}_address")" "$("${s}_version")" "$state"
  done
  return $down
}

# stop_sluice_processes: the background processes `make demo` recorded (orchestrator/daemons.py).
stop_sluice_processes() {
  local py="$SLUICE_ROOT/.venv/bin/python"
  [ -x "$py" ] && [ -d "$SLUICE_STATE_DIR/daemons" ] || return 0
  step "stopping Sluice's background processes (make demo)"
  SLUICE_STATE_DIR="$SLUICE_STATE_DIR" PYTHONPATH="$SLUICE_ROOT" "$py" -m orchestrator.daemons stop
}
