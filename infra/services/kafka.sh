# Kafka 4.2.x in KRaft mode, from Maven Central jars, on the machine's Java 17.
# SLUICE_KAFKA_BROKERS=1 (default): one node on :9092. =3: nodes on :9092 :9094 :9096,
# replication factor 3 and min.insync.replicas=2, for the failure tests.
# KAFKA_CLUSTER and KAFKA_PORT_BASE name and place another cluster beside the shared one
# (infra/kafka-chaos: "kafka-chaos" on :19092 :19094 :19096, its own pids, logs and data).

KAFKA_VERSION=4.2.2
KAFKA_LIBS="$SLUICE_CACHE_DIR/kafka-$KAFKA_VERSION/libs"
KAFKA_CLUSTER=${KAFKA_CLUSTER:-kafka}
KAFKA_PORT_BASE=${KAFKA_PORT_BASE:-9090}

_kafka_nodes() { seq 1 "$SLUICE_KAFKA_BROKERS"; }
_kafka_port() { echo $(( KAFKA_PORT_BASE + 2 * $1 )); }  # node 1 -> 9092, 2 -> 9094, 3 -> 9096
_kafka_name() { echo "$KAFKA_CLUSTER-$1"; }            # pid and log file name of node N
# A node's data is formatted by one Kafka version: each version keeps its own directory.
_kafka_home() {
  if [ "$KAFKA_CLUSTER" = kafka ]; then echo "$SLUICE_STATE_DIR/kafka-$KAFKA_VERSION-x$SLUICE_KAFKA_BROKERS"
  else echo "$SLUICE_STATE_DIR/$KAFKA_CLUSTER-$KAFKA_VERSION"; fi
}
_kafka_dir() { echo "$(_kafka_home)/node-$1"; }

kafka_install() {
  command -v java >/dev/null || need_packages openjdk-17-jre-headless
  command -v mvn >/dev/null || need_packages maven
  [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] && return 0
  step "kafka: fetching Kafka $KAFKA_VERSION jars from Maven Central"
  local log="$SLUICE_LOG_DIR/kafka-fetch.log"
  mvn -q -B -f "$SLUICE_ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >"$log" 2>&1 \
    || fail kafka "$log" "check that Maven Central is reachable (mvn -v; ~/.m2/settings.xml)"
}

_kafka_java() { java -Dlog4j2.configurationFile="$SLUICE_ROOT/infra/kafka/log4j2.properties" -cp "$KAFKA_LIBS/*" "$@"; }

# _kafka_stale NODE: the node runs, but another Kafka version than this file's (a machine set
# up before an upgrade); it is stopped, and starts again on this version's own data.
_kafka_stale() {
  local f="$SLUICE_RUN_DIR/$(_kafka_name "$1").pid"
  pid_alive "$(_kafka_name "$1")" || return 1
  ! tr '\0' ' ' <"/proc/$(cat "$f")/cmdline" | grep -q -- "kafka-$KAFKA_VERSION/libs"
}

_kafka_configure() {
  local n=$1 dir voters="" i rf=1 isr=1
  dir=$(_kafka_dir "$n"); mkdir -p "$dir/data"
  for i in $(_kafka_nodes); do voters+="${voters:+,}$i@127.0.0.1:$(( $(_kafka_port "$i") + 1 ))"; done
  [ "$SLUICE_KAFKA_BROKERS" -gt 1 ] && { rf=3; isr=2; }
  sed -e "s|@NODE@|$n|" -e "s|@PORT@|$(_kafka_port "$n")|" -e "s|@CTRL_PORT@|$(( $(_kafka_port "$n") + 1 ))|" \
      -e "s|@VOTERS@|$voters|" -e "s|@DATA@|$dir/data|" -e "s|@RF@|$rf|" -e "s|@MIN_ISR@|$isr|" \
      "$SLUICE_ROOT/infra/kafka/server.properties.in" >"$dir/server.properties"
}

_kafka_format() {
  local n=$1 dir cid_file
  cid_file="$(_kafka_home)/cluster-id"
  dir=$(_kafka_dir "$n")
  [ -f "$dir/data/meta.properties" ] && return 0
  [ -f "$cid_file" ] || _kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 >"$cid_file"
  _kafka_java kafka.tools.StorageTool format -t "$(cat "$cid_file")" -c "$dir/server.properties" \
    >>"$SLUICE_LOG_DIR/$(_kafka_name "$n").log" 2>&1 \
    || fail "kafka node $n" "$SLUICE_LOG_DIR/$(_kafka_name "$n").log" "remove $dir and run infra/up again"
}

# kafka_start [NODE...]: start the nodes that are not running (default: every node).
kafka_start() {
  local n heap=1G nodes
  [ "$SLUICE_KAFKA_BROKERS" -gt 1 ] && heap=512M
  nodes=${*:-$(_kafka_nodes)}
  for n in $nodes; do
    if _kafka_stale "$n"; then
      step "$KAFKA_CLUSTER: node $n runs another Kafka version; stopping it for $KAFKA_VERSION"
      stop_daemon "$(_kafka_name "$n")"
    fi
    pid_alive "$(_kafka_name "$n")" && port_open "$(_kafka_port "$n")" && continue
    step "$KAFKA_CLUSTER: starting node $n on 127.0.0.1:$(_kafka_port "$n")"
    _kafka_configure "$n"; _kafka_format "$n"
    KAFKA_HEAP="-Xms256M -Xmx$heap"
    # SLUICE_KAFKA_JAVA / SLUICE_KAFKA_GC: another JVM or collector, for bench/broker_jvm.py
    # the broker rolls its own log (infra/kafka/log4j2-broker.properties); the JVM's output
    # outside log4j goes to the .out file
    start_daemon "$(_kafka_name "$n")" "$SLUICE_LOG_DIR/$(_kafka_name "$n").out" \
      "${SLUICE_KAFKA_JAVA:-java}" $KAFKA_HEAP ${SLUICE_KAFKA_GC:--XX:+UseG1GC -XX:MaxGCPauseMillis=20} \
      -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$SLUICE_ROOT/infra/kafka/log4j2-broker.properties" \
      -Dsluice.kafka.log="$SLUICE_LOG_DIR/$(_kafka_name "$n").log" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$(_kafka_dir "$n")/server.properties"
  done
  [ "${KAFKA_NO_WAIT:-0}" = 1 ] && return 0  # infra/kafka-chaos start: a node rejoins in its time
  # Start-up time grows with the partitions on disk (each is loaded), so the wait is bounded
  # by the broker staying alive rather than by a fixed short timeout.
  for n in $nodes; do
    wait_while_alive 900 "$(_kafka_name "$n")" port_open "$(_kafka_port "$n")" \
      || fail "kafka node $n" "$SLUICE_LOG_DIR/$(_kafka_name "$n").log" "the broker exited, or loaded partitions for 15 min: a stale lock or another process on :$(_kafka_port "$n")? (the JVM's own output: $SLUICE_LOG_DIR/$(_kafka_name "$n").out) try infra/down kafka; infra/up"
  done
}

kafka_health() {
  local n
  for n in $(_kafka_nodes); do port_open "$(_kafka_port "$n")" || return 1; done
}

kafka_stop() { local n; for n in 1 2 3; do stop_daemon "$(_kafka_name "$n")"; done; }
kafka_address() { local a="" n; for n in $(_kafka_nodes); do a+="${a:+,}127.0.0.1:$(_kafka_port "$n")"; done; echo "$a"; }
kafka_version() { echo "$KAFKA_VERSION (KRaft, ${SLUICE_KAFKA_BROKERS} node$([ "$SLUICE_KAFKA_BROKERS" -gt 1 ] && echo s))"; }
