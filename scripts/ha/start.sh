#!/usr/bin/env bash
# Start a two-node PostgreSQL cluster managed by Patroni, with etcd as its
# consensus store and synchronous replication, all on loopback, for the
# failover test (ha_test.go) and for trying failover by hand.
#
#   scripts/ha/start.sh DIR BASE_PORT
#
# Ports: etcd client BASE_PORT, etcd peer BASE_PORT+1; node1 PostgreSQL
# BASE_PORT+2 and REST API BASE_PORT+3; node2 BASE_PORT+4 and BASE_PORT+5.
# DIR (created, must be new or empty) receives the configuration, data
# directories and logs, and the file DIR/dsn: a multi-host DSN that
# reaches whichever node is primary (target_session_attrs=read-write).
# scripts/ha/kill-primary.sh DIR kills the primary's postmaster;
# scripts/ha/stop.sh DIR stops everything.
#
# Requires Debian's patroni, etcd-server and postgresql packages. As root
# it runs everything as the postgres system user (PostgreSQL refuses
# root). Test settings: trust authentication on loopback, a 10 s leader
# TTL, no restart of a crashed primary in place (primary_start_timeout 0),
# so a killed primary fails over to the synchronous standby.
set -euo pipefail

if [ "$#" -ne 2 ]; then
	echo "usage: $0 DIR BASE_PORT" >&2
	exit 2
fi
dir="$1" base="$2"
etcd_port=$base etcd_peer=$((base + 1))

pg_bin=""
for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
	if [ -x "$d/postgres" ] && [ -x "$d/initdb" ]; then
		pg_bin="$d"
		break
	fi
done
for cmd in patroni etcd; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		echo "$cmd not found: apt-get install -y patroni etcd-server" >&2
		exit 1
	fi
done
if [ -z "$pg_bin" ]; then
	echo "PostgreSQL binaries not found: apt-get install -y postgresql" >&2
	exit 1
fi

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
if [ -n "$(ls -A "$dir")" ]; then
	echo "$dir is not empty" >&2
	exit 1
fi

as_pg=()
if [ "$(id -u)" = 0 ]; then
	chown postgres: "$dir"
	# setpriv execs (runuser would fork), so $! below is the server's pid.
	as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups)
fi
chmod 700 "$dir"

# Start a command in the background as the postgres user, its output to
# a log, its pid to a file.
spawn() {
	local name="$1"
	shift
	"${as_pg[@]}" setsid "$@" >"$dir/$name.log" 2>&1 </dev/null &
	echo $! >"$dir/$name.pid"
}

spawn etcd etcd --name ha --data-dir "$dir/etcd" \
	--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
	--listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
	--initial-cluster "ha=http://127.0.0.1:$etcd_peer" --initial-cluster-state new
for _ in $(seq 1 100); do
	if curl -fsS "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1; then
		break
	fi
	sleep 0.1
done

node_config() {
	local name="$1" pg_port="$2" api_port="$3"
	cat <<YAML
scope: authgin-ha
name: $name
restapi:
  listen: 127.0.0.1:$api_port
  connect_address: 127.0.0.1:$api_port
etcd3:
  hosts: 127.0.0.1:$etcd_port
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 3
    maximum_lag_on_failover: 1048576
    primary_start_timeout: 0
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        max_connections: 200
        wal_log_hints: "on"
        shared_buffers: 64MB
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth: trust
  pg_hba:
    - host all all 127.0.0.1/32 trust
    - host replication replicator 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:$pg_port
  connect_address: 127.0.0.1:$pg_port
  data_dir: $dir/$name/data
  bin_dir: $pg_bin
  pgpass: $dir/$name/pgpass
  authentication:
    superuser:
      username: postgres
    replication:
      username: replicator
  parameters:
    unix_socket_directories: $dir/$name
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
YAML
}

for n in 1 2; do
	name="node$n"
	pg_port=$((base + 2 * n)) api_port=$((base + 2 * n + 1))
	"${as_pg[@]}" mkdir -m 700 "$dir/$name"
	node_config "$name" "$pg_port" "$api_port" >"$dir/$name.yml"
	[ "${#as_pg[@]}" = 0 ] || chown postgres: "$dir/$name.yml"
	spawn "$name" patroni "$dir/$name.yml"
	if [ "$n" = 1 ]; then
		# node1 bootstraps the cluster before node2 joins it.
		for _ in $(seq 1 300); do
			if curl -fsS "http://127.0.0.1:$api_port/primary" >/dev/null 2>&1; then
				break
			fi
			sleep 0.2
		done
	fi
done

# Ready once one node is primary and the other its synchronous standby.
for _ in $(seq 1 300); do
	if curl -fsS "http://127.0.0.1:$((base + 3))/primary" >/dev/null 2>&1 &&
		curl -fsS "http://127.0.0.1:$((base + 5))/sync" >/dev/null 2>&1; then
		"${as_pg[@]}" "$pg_bin/psql" -h 127.0.0.1 -p $((base + 2)) -U postgres -qAt \
			-c "CREATE DATABASE authgin_test" >/dev/null
		dsn="postgres://postgres@127.0.0.1:$((base + 2)),127.0.0.1:$((base + 4))/authgin_test?sslmode=disable&target_session_attrs=read-write&connect_timeout=2"
		echo "$dsn" >"$dir/dsn"
		echo "$dsn"
		exit 0
	fi
	sleep 0.2
done
echo "the cluster did not come up with a synchronous standby; logs in $dir" >&2
tail -20 "$dir"/node*.log >&2 || true
exit 1
