#!/usr/bin/env bash
# Kill -9 the postmaster of the current primary of the cluster that
# scripts/ha/start.sh DIR started, as a crash would; print its node name.
set -euo pipefail

if [ "$#" -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir="$1"
for yml in "$dir"/node*.yml; do
	name="$(basename "$yml" .yml)"
	api="$(sed -n 's/^  listen: \(127.0.0.1:[0-9]*\)$/\1/p' "$yml" | head -1)"
	if curl -fsS "http://$api/primary" >/dev/null 2>&1; then
		pid="$(head -1 "$dir/$name/data/postmaster.pid")"
		kill -9 "$pid"
		echo "$name"
		exit 0
	fi
done
echo "no primary found" >&2
exit 1
