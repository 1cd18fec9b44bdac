# pg.sh — bash library for tests that need PostgreSQL: a throwaway cluster of our own.
#
#   source tests/lib/pg.sh
#   pg_start [SCRATCHDIR]   initdb + start a private cluster on 127.0.0.1 (a free port, trust
#                           auth for loopback and its own unix socket only); exports
#                           KILN_TEST_PG_URL=postgresql://kiln@127.0.0.1:PORT/postgres.
#                           The server log goes to SCRATCHDIR/postgres.log when given.
#   pg_new_db NAME          creates database NAME ([a-z0-9_]) in the cluster KILN_TEST_PG_URL
#                           names (ours or a parent shell's) and echoes its URL
#   pg_psql URL SQL         runs one SQL command, unaligned output
#   pg_stop                 stops the cluster and removes its directory; safe to call twice
#
# It never touches a system cluster and never assumes one runs: the data directory is a fresh
# mktemp -d under /tmp. As root, the server runs as an unprivileged user (nobody, or a
# kiln-test system user created on demand) because PostgreSQL refuses to run as root.
# Durability settings stay on (fsync, full_page_writes): tests check crash safety.

_PG_DIR="" _PG_BIN="" _PG_USER="" _PG_PORT=""

_pg_die() {
  echo "pg.sh: $*" >&2
  return 1
}

_pg_find_bin() {
  local d
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do # newest first
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { _PG_BIN=$d; return 0; }
  done
  d=$(dirname "$(command -v initdb 2>/dev/null)" 2>/dev/null)
  [ -n "$d" ] && [ -x "$d/pg_ctl" ] && { _PG_BIN=$d; return 0; }
  _pg_die "PostgreSQL server binaries not found (install: bash scripts/deps.sh test)"
}

# Runs a command as the cluster's owner (from /tmp, so the user can read the cwd).
_pg_as() {
  if [ -n "$_PG_USER" ]; then
    (cd /tmp && runuser -u "$_PG_USER" -- "$@")
  else
    (cd /tmp && "$@")
  fi
}

_pg_pick_user() {
  _PG_USER=""
  [ "$(id -u)" -eq 0 ] || return 0
  command -v runuser >/dev/null || { _pg_die "running as root needs runuser"; return 1; }
  if runuser -u nobody -- true 2>/dev/null; then _PG_USER=nobody; return 0; fi
  id kiln-test >/dev/null 2>&1 ||
    useradd --system --no-create-home --shell /usr/sbin/nologin kiln-test ||
    { _pg_die "cannot create the kiln-test user"; return 1; }
  _PG_USER=kiln-test
}

_pg_free_port() {
  local port _
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
  done
  return 1
}

_pg_write_conf() { # port
  local data=$_PG_DIR/data
  cat >>"$data/postgresql.conf" <<EOF

# --- kiln test cluster ---
listen_addresses = '127.0.0.1'
port = $1
unix_socket_directories = '$_PG_DIR'
max_connections = 100
shared_buffers = 16MB
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
log_min_messages = warning
EOF
  cat >"$data/pg_hba.conf" <<EOF
# kiln test cluster: trust, but only over the private socket and loopback.
local all all               trust
host  all all 127.0.0.1/32  trust
EOF
}

_pg_initdb() {
  _pg_as "$_PG_BIN/initdb" -D "$_PG_DIR/data" -U kiln -A trust -E UTF8 --locale=C \
    >"$_PG_DIR/initdb.log" 2>&1 ||
    { cat "$_PG_DIR/initdb.log" >&2; _pg_die "initdb failed"; }
}

# Tries a few free ports: another process may take the one we picked before the server binds.
_pg_start_server() { # log file
  local _ port
  for _ in 1 2 3 4 5; do
    port=$(_pg_free_port) || { _pg_die "no free port on 127.0.0.1"; return 1; }
    sed -i '/^# --- kiln test cluster ---$/,$d' "$_PG_DIR/data/postgresql.conf"
    _pg_write_conf "$port"
    if _pg_as "$_PG_BIN/pg_ctl" -D "$_PG_DIR/data" -w -t 30 start >>"$1" 2>&1; then
      _PG_PORT=$port
      return 0
    fi
    grep -q "could not bind\|Address already in use" "$1" || break
  done
  tail -n 20 "$1" >&2
  _pg_die "PostgreSQL did not start (log: $1)"
}

_pg_wait_ready() {
  local _
  for _ in $(seq 1 60); do
    "$_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$_PG_PORT" -t 1 && return 0
    sleep 0.5
  done
  _pg_die "PostgreSQL on 127.0.0.1:$_PG_PORT not ready after 30 s"
}

pg_start() {
  local scratch=${1:-} log
  [ -z "$_PG_DIR" ] || { _pg_die "a test cluster is already running"; return 1; }
  _pg_find_bin && _pg_pick_user || return 1
  _PG_DIR=$(mktemp -d /tmp/kiln-pg.XXXXXX) || { _pg_die "mktemp failed"; return 1; }
  chmod 0700 "$_PG_DIR"
  [ -z "$_PG_USER" ] || chown "$_PG_USER" "$_PG_DIR"
  log=$_PG_DIR/postgres.log
  if [ -n "$scratch" ]; then mkdir -p "$scratch" && log=$scratch/postgres.log; fi
  : >"$log" # opened by this shell, so the server can write it even when it runs as nobody
  if ! { _pg_initdb && _pg_start_server "$log" && _pg_wait_ready; }; then
    pg_stop
    return 1
  fi
  export KILN_TEST_PG_URL="postgresql://kiln@127.0.0.1:$_PG_PORT/postgres"
}

pg_new_db() {
  local name=${1:-} base
  [ -n "${KILN_TEST_PG_URL:-}" ] || { _pg_die "pg_new_db: no test cluster (call pg_start)"; return 1; }
  [[ $name =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || { _pg_die "pg_new_db: bad name '$name'"; return 1; }
  [ -n "$_PG_BIN" ] || _pg_find_bin || return 1
  "$_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$KILN_TEST_PG_URL" \
    -c "CREATE DATABASE \"$name\"" >/dev/null || { _pg_die "cannot create database $name"; return 1; }
  base=${KILN_TEST_PG_URL%/*} # works for a cluster started by this shell or by a parent
  echo "$base/$name"
}

# Runs psql against a database URL (for tests that inspect or tamper with the store).
pg_psql() { # url, sql
  [ -n "$_PG_BIN" ] || _pg_find_bin || return 1
  "$_PG_BIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

pg_stop() {
  [ -n "$_PG_DIR" ] || return 0
  if [ -f "$_PG_DIR/data/postmaster.pid" ]; then
    _pg_as "$_PG_BIN/pg_ctl" -D "$_PG_DIR/data" -w -t 30 -m fast stop >/dev/null 2>&1 ||
      _pg_as "$_PG_BIN/pg_ctl" -D "$_PG_DIR/data" -w -m immediate stop >/dev/null 2>&1
  fi
  case $_PG_DIR in /tmp/kiln-pg.*) rm -rf "$_PG_DIR" ;; esac
  _PG_DIR="" _PG_PORT=""
  unset KILN_TEST_PG_URL
}
