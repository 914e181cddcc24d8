#!/usr/bin/env bash
# govulncheck (pinned) over the root module: zero findings in called code.
#   usage: .ci/govulncheck.sh   (from the repository root)
#
# The scan runs with the toolchain go.mod names (GOTOOLCHAIN=auto fetches
# it through the module proxy when the local Go is older): that is the Go
# releases are built with, and its standard library is what gets checked.
# A local Go older than it is named in a warning.
#
# The vulnerability database is vuln.go.dev. Where that cannot be reached,
# the database is built from golang.org/x/vulndb (its OSV files), fetched
# through the module proxy like any module, with that module's own indexdb
# command. Only when neither works is the scan skipped, with a message
# saying so.
set -euo pipefail

GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.9.0

want="$(sed -n 's/^toolchain //p' go.mod)"
have="$(GOTOOLCHAIN=local go env GOVERSION)"
if [ -n "$want" ] && [ "$want" != "$have" ] &&
	[ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" = "$have" ]; then
	echo "WARNING: the local Go ($have) is older than go.mod's toolchain ($want):"
	echo "WARNING: the scan below checks $want's standard library; binaries built with $have miss its fixes."
fi

db_args=()
if ! timeout 15 bash -c 'exec 3<>/dev/tcp/vuln.go.dev/443' 2>/dev/null; then
	echo "vuln.go.dev cannot be reached: building the database from golang.org/x/vulndb (module proxy)"
	tmp="$(mktemp -d /tmp/authgin-vulndb.XXXXXX)"
	trap 'rm -rf "$tmp"' EXIT
	if info="$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json golang.org/x/vulndb@latest)" &&
		dir="$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" &&
		ver="$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Version": "\(.*\)",$/\1/p')" &&
		[ -d "$dir/data/osv" ] &&
		(cd "$tmp" && go run "golang.org/x/vulndb/cmd/indexdb@$ver" -vulns "$dir/data/osv" -out "$tmp/db"); then
		echo "database: golang.org/x/vulndb@$ver"
		db_args=(-db "file://$tmp/db")
	else
		echo "SKIPPED: govulncheck: neither vuln.go.dev nor golang.org/x/vulndb could be fetched"
		exit 0
	fi
fi

GOTOOLCHAIN=auto go run "$GOVULNCHECK" "${db_args[@]}" ./...
