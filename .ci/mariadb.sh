#!/usr/bin/env bash
# Starts a throwaway MariaDB server on a free loopback port for the tests,
# installing Debian's mariadb-server first when it is missing.
#   usage: source .ci/mariadb.sh DIR PORT
# Sets AUTHGIN_TEST_MYSQL_DSN and defines stop_mariadb.
start_mariadb() {
	local dir="$1" port="$2"
	if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update
		apt-get install -y --no-install-recommends mariadb-server </dev/null
	fi
	local bin=/usr/sbin/mariadbd
	command -v mariadbd >/dev/null 2>&1 && bin="$(command -v mariadbd)"
	mkdir -p "$dir/data"
	chown -R mysql: "$dir" 2>/dev/null || true
	mariadb-install-db --no-defaults --user=mysql --datadir="$dir/data" \
		--auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 ||
		{ cat "$dir/install.log"; return 1; }
	# Fast and throwaway: no doublewrite or flush at commit; enough
	# connections for parallel tests; loopback and the temp socket only.
	"$bin" --no-defaults --user=mysql --datadir="$dir/data" --socket="$dir/mysqld.sock" \
		--pid-file="$dir/mysqld.pid" --bind-address=127.0.0.1 --port="$port" \
		--max-connections=400 --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
		--innodb-buffer-pool-size=128M --skip-log-bin --skip-name-resolve \
		--log-error="$dir/server.log" &
	local i
	for i in $(seq 1 120); do
		if mariadb --no-defaults -uroot --socket="$dir/mysqld.sock" -e 'SELECT 1' >/dev/null 2>&1; then
			break
		fi
		sleep 0.5
	done
	mariadb --no-defaults -uroot --socket="$dir/mysqld.sock" -e "
CREATE USER IF NOT EXISTS 'authgin'@'127.0.0.1' IDENTIFIED BY 'authgin';
GRANT ALL PRIVILEGES ON *.* TO 'authgin'@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS authgin_test CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;" ||
		{ cat "$dir/server.log"; return 1; }
	export AUTHGIN_TEST_MYSQL_DSN="mysql://authgin:authgin@127.0.0.1:$port/authgin_test"
}

stop_mariadb() {
	local dir="$1"
	if [ -f "$dir/mysqld.pid" ]; then
		kill "$(cat "$dir/mysqld.pid")" 2>/dev/null || true
		for _ in $(seq 1 40); do [ -f "$dir/mysqld.pid" ] || break; sleep 0.25; done
	fi
	rm -rf "$dir"
}
