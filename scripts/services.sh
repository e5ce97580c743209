#!/usr/bin/env bash
# Starts the servers tally's integration tests talk to, installing them when missing:
#   Redis 127.0.0.1:6379, MariaDB 127.0.0.1:3306 (root, no password, database `test`),
#   a second MariaDB with a row-format binlog on 127.0.0.1:3307 (same login; its own datadir
#   /var/lib/tally-mariadb-binlog, for the binlog dimension tests),
#   PostgreSQL 127.0.0.1:5432 (trust for 127.0.0.1, database `test`), and the Kafka-compatible
#   broker tansu (a binary; the tests start their own broker on a free port).
# Idempotent: a server that is already up is left alone. Fails loudly when one cannot start.
set -euo pipefail

TANSU_VERSION=0.6.0

log() { echo "services: $*" >&2; }

listening() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_for() { # name port
  for _ in $(seq 1 60); do
    if listening 127.0.0.1 "$2"; then return 0; fi
    sleep 0.5
  done
  log "$1 did not start listening on 127.0.0.1:$2"
  exit 1
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- Redis -----------------------------------------------------------------------------------
if ! listening 127.0.0.1 6379; then
  command -v redis-server >/dev/null 2>&1 || { log "installing redis-server"; apt_install redis-server; }
  mkdir -p /var/lib/redis /var/log/redis
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 6379
fi

# --- MariaDB ---------------------------------------------------------------------------------
if ! listening 127.0.0.1 3306; then
  if [ ! -x /usr/sbin/mariadbd ]; then
    log "installing mariadb-server"
    apt_install mariadb-server
  fi
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld 2>/dev/null || true
  log "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for MariaDB 3306
fi
# The tests connect over TCP as root without a password, to database `test`.
if command -v mariadb >/dev/null 2>&1; then
  if ! mariadb -h 127.0.0.1 -u root -e "SELECT 1" >/dev/null 2>&1; then
    log "letting root log in over TCP without a password"
    mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;"
  fi
  mariadb -h 127.0.0.1 -u root -e "CREATE DATABASE IF NOT EXISTS test"
fi

# --- MariaDB with a binlog (binlog dimension tests) --------------------------------------------
# A second server of the same installation: its own datadir, socket and pid file, row-format
# binlog. The one on 3306 is left as it is (its binlog may be off).
BINLOG_DATADIR=/var/lib/tally-mariadb-binlog
BINLOG_SOCKET=/run/mysqld/tally-binlog.sock
if ! listening 127.0.0.1 3307; then
  # Needed even when another server (MySQL, or a MariaDB not installed here) answers on 3306.
  if ! command -v mariadb-install-db >/dev/null 2>&1 || [ ! -x /usr/sbin/mariadbd ]; then
    log "installing mariadb-server (the binlog MariaDB on 3307 needs mariadb-install-db and mariadbd)"
    apt_install mariadb-server
  fi
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld 2>/dev/null || true
  if [ ! -d "$BINLOG_DATADIR/mysql" ]; then
    log "creating the datadir of the binlog MariaDB in $BINLOG_DATADIR"
    mkdir -p "$BINLOG_DATADIR"
    chown mysql:mysql "$BINLOG_DATADIR"
    mariadb-install-db --no-defaults --user=mysql --datadir="$BINLOG_DATADIR" \
      --auth-root-authentication-method=socket >/dev/null
  fi
  log "starting MariaDB with a binlog on 3307"
  setsid nohup /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$BINLOG_DATADIR" \
    --port=3307 --bind-address=127.0.0.1 --socket="$BINLOG_SOCKET" \
    --pid-file=/run/mysqld/tally-binlog.pid --log-error="$BINLOG_DATADIR/error.log" \
    --log-bin=tally-bin --binlog-format=ROW --binlog-row-image=FULL --server-id=1 \
    </dev/null >/dev/null 2>&1 &
  wait_for "MariaDB (binlog)" 3307
fi
command -v mariadb >/dev/null 2>&1 || { log "installing mariadb-client"; apt_install mariadb-client; }
if ! mariadb -h 127.0.0.1 -P 3307 -u root -e "SELECT 1" >/dev/null 2>&1; then
  log "letting root log in to the binlog MariaDB over TCP without a password"
  mariadb -S "$BINLOG_SOCKET" -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;"
fi
mariadb -h 127.0.0.1 -P 3307 -u root -e "CREATE DATABASE IF NOT EXISTS test"
if [ "$(mariadb -h 127.0.0.1 -P 3307 -u root -N -e "SELECT @@log_bin, @@binlog_format")" != "$(printf '1\tROW')" ]; then
  log "the server on 127.0.0.1:3307 has no row-format binlog (log_bin, binlog_format); the binlog tests need one"
  exit 1
fi

# --- PostgreSQL ------------------------------------------------------------------------------
if ! listening 127.0.0.1 5432; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing postgresql"
    apt_install postgresql
  fi
  version=$(ls /etc/postgresql | sort -V | tail -1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! grep -q "^host all all 127.0.0.1/32 trust" "$hba"; then
    log "trusting 127.0.0.1 in $hba (a test server)"
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for PostgreSQL 5432
fi
if command -v psql >/dev/null 2>&1; then
  if ! psql -h 127.0.0.1 -U postgres -d test -c "SELECT 1" >/dev/null 2>&1; then
    log "creating database test"
    psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null
  fi
fi

# --- tansu (Kafka-compatible broker) ---------------------------------------------------------
TANSU="${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
if [ ! -x "$TANSU" ] || ! "$TANSU" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
  log "installing tansu $TANSU_VERSION (a Kafka-compatible broker for the Kafka tests; ~8 minutes once)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore
fi
# --- moto (an S3-compatible server; tests/object_store.rs starts its own on a free port) ------
MOTO_VENV="${TALLY_MOTO_VENV:-$HOME/.cache/tally-moto}"
if [ ! -x "$MOTO_VENV/bin/moto_server" ] || ! "$MOTO_VENV/bin/python" -c "import boto3" 2>/dev/null; then
  log "installing moto[server] and boto3 into $MOTO_VENV (for the object store tests)"
  python3 -c "import venv, ensurepip" 2>/dev/null || apt_install python3-venv
  python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install -q 'moto[server]' boto3
fi
# --- DuckDB (the batch reference of tests/nexmark.rs) -----------------------------------------
DUCKDB_VENV="${TALLY_DUCKDB_VENV:-$HOME/.cache/tally-duckdb}"
if ! "$DUCKDB_VENV/bin/python" -c "import duckdb" 2>/dev/null; then
  log "installing duckdb into $DUCKDB_VENV (the reference of the Nexmark tests)"
  python3 -c "import venv, ensurepip" 2>/dev/null || apt_install python3-venv
  python3 -m venv "$DUCKDB_VENV"
  "$DUCKDB_VENV/bin/pip" install -q duckdb
fi
# --- promtool (checks tally's /metrics page in tests/http.rs) --------------------------------
command -v promtool >/dev/null 2>&1 || { log "installing prometheus (for promtool)"; apt_install --no-install-recommends prometheus; }
# --- Chromium and ChromeDriver (drive the web console headless in tests/console.rs) ----------
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  log "installing chromium and chromium-driver"
  apt_install chromium chromium-driver
fi
log "ready: Redis 6379, MariaDB 3306 and 3307 (binlog), PostgreSQL 5432, moto ($MOTO_VENV), duckdb ($DUCKDB_VENV), promtool, chromium, $("$TANSU" --version 2>/dev/null || echo tansu)"
