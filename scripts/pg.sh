# shellcheck shell=bash
# PostgreSQL for the test suite: sourced by scripts/test and .ci/run.
#
# pg_ensure makes a PostgreSQL server reachable and exports MPI_TEST_POSTGRES_URL, the admin
# URL from which every PostgreSQL test creates (and drops) a database of its own:
#   1. MPI_TEST_POSTGRES_URL already set and answering: use it as it is;
#   2. a server on 127.0.0.1:5432 that lets user postgres in: use it;
#   3. an installed cluster (/etc/postgresql/VERSION/main) that is down: start it, use it if
#      user postgres can log in over 127.0.0.1;
#   4. otherwise start a private throw-away cluster on port 55432 under /tmp (installing
#      PostgreSQL with apt-get first when it is missing); pg_stop removes it again.
# Every case checks that the pg_trgm extension is available (the schema needs it).

_pg_log() { echo "pg: $*" >&2; }

_pg_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

_pg_psql() {
  local psql
  psql="$(command -v psql 2>/dev/null || true)"
  if [ -z "$psql" ]; then
    local bindir; bindir="$(_pg_bindir)"
    psql="${bindir:+$bindir/psql}"
  fi
  [ -n "$psql" ] && [ -x "$psql" ] || return 127
  "$psql" "$@"
}

# _pg_usable URL: the server answers, we can log in, and pg_trgm is available.
_pg_usable() {
  local url="$1" out
  out="$(PGCONNECT_TIMEOUT=5 _pg_psql "$url" -X -A -t -q -v ON_ERROR_STOP=1 \
      -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'" 2>&1)" || {
    _pg_log "cannot use ${url}: ${out}"
    return 1
  }
  if [ "$(echo "$out" | tr -d '[:space:]')" != "1" ]; then
    _pg_log "${url} answers but the pg_trgm extension is not available (install postgresql-contrib)"
    return 1
  fi
}

_pg_use() {
  export MPI_TEST_POSTGRES_URL="$1"
  _pg_log "using ${MPI_TEST_POSTGRES_URL}"
}

pg_start_private() {
  local port="${PG_PRIVATE_PORT:-55432}"
  local root="/tmp/mpi-pg-test-$port" bindir
  bindir="$(_pg_bindir)"
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -f "$(dirname "$bindir")/lib/pg_trgm.so" ]; then
    if [ "$(id -u)" != 0 ]; then
      _pg_log "PostgreSQL is not installed and installing it needs root (apt-get install postgresql postgresql-contrib)"
      return 1
    fi
    _pg_log "installing PostgreSQL with apt-get"
    apt-get update -qq >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null || {
      _pg_log "apt-get install postgresql failed"
      return 1
    }
    bindir="$(_pg_bindir)"
  fi
  local as=()   # initdb and postgres refuse to run as root: use the postgres OS user
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/postgresql postgres
    as=(runuser -u postgres --)
  fi
  if [ -f "$root/data/postmaster.pid" ]; then
    "${as[@]}" "$bindir/pg_ctl" -D "$root/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$root"
  mkdir -p "$root/data" "$root/sock"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$root"; fi
  "${as[@]}" "$bindir/initdb" -D "$root/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$root/initdb.log" 2>&1 || { cat "$root/initdb.log" >&2; return 1; }
  "${as[@]}" "$bindir/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t 30 start \
      -o "-p $port -k $root/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      >/dev/null || { cat "$root/server.log" >&2; return 1; }
  # Only the shell that started the cluster stops it (scripts/test run from .ci/run inherits these).
  export PG_PRIVATE_BINDIR="$bindir" PG_PRIVATE_ROOT="$root" PG_PRIVATE_OWNER="$$"
  local url="postgres://postgres@127.0.0.1:$port/postgres"
  _pg_usable "$url" || return 1
  _pg_log "started a private cluster in $root"
  _pg_use "$url"
}

# Stops and removes the private cluster, if pg_start_private started one.
pg_stop() {
  [ -n "${PG_PRIVATE_ROOT:-}" ] && [ "${PG_PRIVATE_OWNER:-}" = "$$" ] || return 0
  local as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
  "${as[@]}" "$PG_PRIVATE_BINDIR/pg_ctl" -D "$PG_PRIVATE_ROOT/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_PRIVATE_ROOT"
  unset PG_PRIVATE_ROOT PG_PRIVATE_BINDIR PG_PRIVATE_OWNER
}

pg_ensure() {
  if [ -n "${MPI_TEST_POSTGRES_URL:-}" ]; then
    _pg_usable "$MPI_TEST_POSTGRES_URL" && { _pg_use "$MPI_TEST_POSTGRES_URL"; return 0; }
    _pg_log "MPI_TEST_POSTGRES_URL is set but not usable"
    return 1
  fi
  local local_url="postgres://postgres@127.0.0.1:5432/postgres"
  if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
    if _pg_usable "$local_url"; then _pg_use "$local_url"; return 0; fi
  elif [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null 2>&1; then
    local version
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    if [ -n "$version" ] && [ -d "/etc/postgresql/$version/main" ]; then
      _pg_log "starting the installed cluster $version/main"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 2>&1 ||
        _pg_log "pg_ctlcluster could not start $version/main"
      local i
      for i in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 1
      done
      if _pg_usable "$local_url"; then _pg_use "$local_url"; return 0; fi
    fi
  fi
  _pg_log "no usable server on 127.0.0.1:5432; starting a private one"
  pg_start_private
}
