#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback, for the database tests.
#
#   tests/support/postgres.sh install          install Debian's postgresql when missing
#   tests/support/postgres.sh start DIR        initdb a cluster in DIR/data and start it
#   tests/support/postgres.sh stop DIR         stop it (a stopped cluster is fine)
#   tests/support/postgres.sh test [ARGS...]   install, start a cluster in a new
#                                              temporary folder, run
#                                              `cargo test ARGS` against it, stop it
#
# `start DIR` writes DIR/env, KEY=value lines (no quoting is ever needed):
#   DATABASE_URL   postgres://hotpapers:PASSWORD@127.0.0.1:PORT/hotpapers
#   SOCKET_URL     the same database over the unix socket in DIR/socket
#   PGPORT         the port on 127.0.0.1
#   CA, OTHER_CA   the test CA that signed the server's certificate (TLS is on,
#                  for DNS:localhost and IP:127.0.0.1), and an unrelated CA
#
# The cluster runs as an unprivileged user (initdb and pg_ctl refuse root): the
# caller itself when it is not root, else Debian's `postgres` user. It has its
# own port (PORT, default a free one) and socket folder, and fsync off: it is
# thrown away, and crash safety is PostgreSQL's, not what the tests check.

set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/support/lib.sh
. "$here/lib.sh"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { printf '%s\n' "$d"; return; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return; }
    return 1
}

install_postgres() {
    if bindir >/dev/null; then return; fi
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends postgresql
    bindir >/dev/null || die "installed postgresql, but no initdb was found"
}

# Runs a command as the cluster's user.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        # `su` through a login-less shell: Debian's postgres user has one.
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    else
        "$@"
    fi
}

start() {
    local dir="$1" bin port password
    bin="$(bindir)" || die "PostgreSQL is not installed (run: $0 install)"
    case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
    if [ "$(id -u)" = 0 ]; then make_dir_reachable "$dir" postgres; else mkdir -p "$dir"; fi
    port="${PORT:-$(pick_ports any)}"
    password="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    rm -rf "$dir/data" "$dir/socket"
    mkdir -p "$dir/data" "$dir/socket"
    printf '%s\n' "$password" >"$dir/password"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "no \`postgres\` user to run the cluster as"
        chown -R postgres "$dir/data" "$dir/socket" "$dir/password"
    fi
    chmod 700 "$dir/data"
    mkdir -p "$dir/tls"
    make_certificates "$dir/tls"
    install -m 600 "$dir/tls/server.key" "$dir/server.key"
    install -m 644 "$dir/tls/server.pem" "$dir/server.pem"
    [ "$(id -u)" = 0 ] && chown postgres "$dir/server.key" "$dir/server.pem"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A scram-sha-256 \
        --pwfile="$dir/password" -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir/socket -c ssl=on -c ssl_cert_file=$dir/server.pem -c ssl_key_file=$dir/server.key -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null ||
        { cat "$dir/data/server.log" >&2; die "the server did not start"; }
    PGPASSWORD="$password" psql -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE hotpapers LOGIN PASSWORD '$password' CREATEDB" \
        -c "CREATE DATABASE hotpapers OWNER hotpapers" >/dev/null
    cat >"$dir/env" <<EOF
DATABASE_URL=postgres://hotpapers:$password@127.0.0.1:$port/hotpapers
SOCKET_URL=postgresql://hotpapers:$password@${dir//\//%2F}%2Fsocket:$port/hotpapers
PGPORT=$port
CA=$dir/tls/ca.pem
OTHER_CA=$dir/tls/other-ca.pem
EOF
    log "PostgreSQL on 127.0.0.1:$port (settings in $dir/env)"
}

stop() {
    local dir="$1" bin
    bin="$(bindir)" || return 0
    [ -f "$dir/data/postmaster.pid" ] || return 0
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
}

run_tests() {
    install_postgres
    local dir
    dir="$(mktemp -d /tmp/hotpapers-pg.XXXXXX)"
    chmod 755 "$dir"
    trap 'stop "$dir"; rm -rf "$dir"' EXIT
    start "$dir"
    HOTPAPERS_TEST_DATABASE_URL="$(sed -n 's/^DATABASE_URL=//p' "$dir/env")"
    export HOTPAPERS_TEST_DATABASE_URL
    HOTPAPERS_TEST_DATABASE_SOCKET_URL="$(sed -n 's/^SOCKET_URL=//p' "$dir/env")"
    export HOTPAPERS_TEST_DATABASE_SOCKET_URL
    HOTPAPERS_TEST_DATABASE_CA="$(sed -n 's/^CA=//p' "$dir/env")"
    HOTPAPERS_TEST_DATABASE_OTHER_CA="$(sed -n 's/^OTHER_CA=//p' "$dir/env")"
    export HOTPAPERS_TEST_DATABASE_CA HOTPAPERS_TEST_DATABASE_OTHER_CA
    export HOTPAPERS_TEST_POSTGRES=require
    cargo test "$@"
}

case "${1:-}" in
    install) install_postgres ;;
    start) [ $# = 2 ] || die "usage: $0 start DIR"; start "$2" ;;
    stop) [ $# = 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
    test) shift; run_tests "$@" ;;
    *) die "usage: $0 install | start DIR | stop DIR | test [CARGO TEST ARGS]" ;;
esac
