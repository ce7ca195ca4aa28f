# A throwaway PostgreSQL cluster for the tests, on 127.0.0.1 in a temporary directory.
# Sourced by scripts/test.sh:
#
#   source scripts/postgres.sh
#   pg_start        # installs PostgreSQL from Debian's packages when absent, starts it,
#                   # exports KEYWARD_TEST_POSTGRES=postgres://keyward@127.0.0.1:PORT
#   pg_stop         # stops it and removes its directory (pg_start arranges this on EXIT)
#
# The cluster trusts local connections on loopback only; it holds nothing but test data.

pg_bindir() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] && echo "$dir"
}

pg_install() {
    if [ -n "$(pg_bindir)" ]; then
        return
    fi
    echo "PostgreSQL is not installed: installing Debian's postgresql package"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    if [ -z "$(pg_bindir)" ]; then
        echo "error: PostgreSQL could not be installed" >&2
        return 1
    fi
}

# Runs a PostgreSQL program as the cluster's owner: PostgreSQL refuses to run as root.
pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    pg_install
    local bin
    bin=$(pg_bindir)
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/keyward-pg.XXXXXX")
    chmod 755 "$PG_DIR"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$PG_DIR"
    fi
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    pg_as_owner "$bin/initdb" -D "$PG_DIR/data" -U keyward --auth=trust -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 || {
        cat "$PG_DIR/initdb.log" >&2
        return 1
    }
    # Members of the group keyward_password_login must give their password (SCRAM), so
    # that a test can tell an old password from a new one (test_rotation.py rotates a
    # role's password); every other connection on loopback is trusted.
    pg_as_owner sed -i '1i host all +keyward_password_login 127.0.0.1/32 scram-sha-256' "$PG_DIR/data/pg_hba.conf"
    # The e2e suite keeps every server it starts until the session ends (the teardown checks
    # their exit codes and logs), and each holds pooled connections: 300 ran out.
    pg_as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$PG_DIR -c max_connections=1000" \
        start >/dev/null || {
        cat "$PG_DIR/server.log" >&2
        return 1
    }
    PG_BIN=$bin
    export KEYWARD_TEST_POSTGRES="postgres://keyward@127.0.0.1:$port"
    trap pg_stop EXIT
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($PG_DIR)"
}

pg_stop() {
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
        pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
    PG_DIR=""
}
