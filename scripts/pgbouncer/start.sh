#!/usr/bin/env bash
# Start PgBouncer on loopback in transaction pooling mode in front of a
# PostgreSQL server, for the test suite (the `pgbouncer` test backend) and
# for trying authgin behind a pooler by hand.
#
#   scripts/pgbouncer/start.sh DIR LISTEN_PORT PG_HOST PG_PORT
#
# DIR (created if missing) receives pgbouncer.ini, userlist.txt, the log
# and the pid file; scripts/pgbouncer/stop.sh DIR stops it. Every database
# name is passed through to the server (`* =` entry). Authentication is
# trust (this is a loopback test setup, not a production configuration):
# postgres is listed in userlist.txt, and any other role that exists on the
# server is looked up through auth_user, so that each test can log in as a
# role of its own whose search_path names its schema. Prints the DSN for
# the authgin_test database on success.
#
# PgBouncer refuses to run as root: as root the script runs it as the
# postgres system user (created by Debian's postgresql packages).
set -euo pipefail

if [ "$#" -ne 4 ]; then
	echo "usage: $0 DIR LISTEN_PORT PG_HOST PG_PORT" >&2
	exit 2
fi
dir="$1" port="$2" pghost="$3" pgport="$4"

bin="$(command -v pgbouncer || true)"
if [ -z "$bin" ] && [ -x /usr/sbin/pgbouncer ]; then
	bin=/usr/sbin/pgbouncer
fi
if [ -z "$bin" ]; then
	echo "pgbouncer not found: apt-get install -y pgbouncer" >&2
	exit 1
fi

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

cat >"$dir/userlist.txt" <<USERS
"postgres" ""
USERS

# pool_mode = transaction: a server connection belongs to a client only for
# one transaction (or one statement outside any), so nothing a client sets
# on its session may be relied on in the next one. pgx must not use named
# prepared statements here: see docs/scaling.md.
cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$pghost port=$pgport

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_user = postgres
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 10
reserve_pool_size = 0
server_idle_timeout = 15
server_lifetime = 3600
query_wait_timeout = 30
server_reset_query =
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
admin_users = postgres
stats_users = postgres
INI

run_as=()
if [ "$(id -u)" = 0 ]; then
	chown -R postgres: "$dir"
	run_as=(-u postgres)
fi
"$bin" -d "${run_as[@]}" "$dir/pgbouncer.ini"

# Wait until it accepts connections.
for _ in $(seq 1 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "postgres://postgres@127.0.0.1:$port/authgin_test?sslmode=disable&default_query_exec_mode=cache_describe"
		exit 0
	fi
	sleep 0.1
done
echo "pgbouncer did not start; its log:" >&2
cat "$dir/pgbouncer.log" >&2 || true
exit 1
