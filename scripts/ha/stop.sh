#!/usr/bin/env bash
# Stop the cluster that scripts/ha/start.sh DIR started (Patroni stops its
# PostgreSQL), then etcd. Leaves DIR in place.
set -euo pipefail

if [ "$#" -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir="$1"
stop_pid() {
	local pidfile="$1" pid
	[ -f "$pidfile" ] || return 0
	pid="$(cat "$pidfile")"
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}
for pidfile in "$dir"/node*.pid; do
	stop_pid "$pidfile"
done
# A postmaster that outlived its Patroni.
for pm in "$dir"/node*/data/postmaster.pid; do
	[ -f "$pm" ] || continue
	pid="$(head -1 "$pm")"
	kill -9 "$pid" 2>/dev/null || true
done
stop_pid "$dir/etcd.pid"
