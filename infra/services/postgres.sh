# PostgreSQL 15 from Debian's packages: the Debian cluster 15/main on 127.0.0.1:5432,
# with a role and database named sluice. Migrations are applied by infra/bootstrap.py.

PG_VERSION=15
PG_MAX_CONNECTIONS=300
SLUICE_PG_PASSWORD=${SLUICE_PG_PASSWORD:-sluice}

postgres_install() {
  [ -x "/usr/lib/postgresql/$PG_VERSION/bin/postgres" ] || need_packages "postgresql-$PG_VERSION" postgresql-client-$PG_VERSION
  pg_lsclusters -h 2>/dev/null | grep -q "^$PG_VERSION main" \
    || pg_createcluster "$PG_VERSION" main >>"$SLUICE_LOG_DIR/postgres.log" 2>&1 \
    || fail postgres "$SLUICE_LOG_DIR/postgres.log" "pg_createcluster $PG_VERSION main failed; see the log"
  # Each runner holds one connection to the job queue (runners/job_queue.py): 100 runners
  # and the services need more than Debian's 100. Read at the server's next start.
  [ "$(pg_conftool -s "$PG_VERSION" main show max_connections 2>/dev/null)" = "$PG_MAX_CONNECTIONS" ] \
    || pg_conftool "$PG_VERSION" main set max_connections "$PG_MAX_CONNECTIONS"
}

_pg_psql() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }

postgres_start() {
  if ! postgres_health; then
    step "postgres: starting cluster $PG_VERSION/main on 127.0.0.1:5432"
    pg_ctlcluster "$PG_VERSION" main start >>"$SLUICE_LOG_DIR/postgres.log" 2>&1 \
      || fail postgres "/var/log/postgresql/postgresql-$PG_VERSION-main.log" "another server on :5432? try: pg_ctlcluster $PG_VERSION main restart"
    wait_for 30 postgres_health || fail postgres "/var/log/postgresql/postgresql-$PG_VERSION-main.log" "the server did not accept connections in 30 s"
  fi
  _pg_psql -tAc "select 1 from pg_roles where rolname='sluice'" | grep -q 1 \
    || _pg_psql -c "create role sluice login createdb password '$SLUICE_PG_PASSWORD'"
  _pg_psql -tAc "select 1 from pg_database where datname='sluice'" | grep -q 1 \
    || _pg_psql -c "create database sluice owner sluice"
}

postgres_health() { pg_isready -q -h 127.0.0.1 -p 5432; }
postgres_stop() { pg_ctlcluster "$PG_VERSION" main stop -m fast >/dev/null 2>&1 || true; }
postgres_address() { echo "127.0.0.1:5432/sluice"; }
postgres_version() { "/usr/lib/postgresql/$PG_VERSION/bin/postgres" --version 2>/dev/null | awk '{print $3}'; }
