# shellcheck shell=bash disable=SC2034 # the variables are read by the scripts that source this file
# Shared by scripts/cluster and scripts/cluster-check: the loopback ports, the paths under the
# data dir and small helpers. Sourced, never run.
#
# Ports (all on 127.0.0.1, away from the shared 5432/6379/4222/8080):
#   5500        HAProxy: Postgres writes (the Patroni leader, checked on GET /primary)
#   5501        HAProxy: Postgres reads (a streaming standby, checked on GET /replica;
#               the primary when no standby is up)
#   5511 5512   Postgres pg1, pg2 (Patroni-managed; one primary, one synchronous standby)
#   5521 5522   Patroni REST API of pg1, pg2 (HAProxy's health checks, `patronictl`)
#   5531-5533   etcd client (Patroni's DCS: leader key, sync standby, config)
#   5541-5543   etcd peer
#   5590        HAProxy statistics page (GET /, or /;csv)
#   6381-6386   Redis Cluster nodes (cluster bus on port + 10000: 16381-16386)
#   4231-4233   NATS client (JetStream, sync_interval always)
#   4241-4243   NATS cluster routes
#   4251-4253   NATS monitoring (GET /healthz, /jsz)
#   8180        HAProxy: cotalk HTTP + WebSocket (one API address)
#   8181 8182   cotalk --role command nodes (HAProxy backend, room-hashed)
#   8191 8192   cotalk --role query nodes (HAProxy backend, WebSockets, least connections)
#   8195 8196   cotalk --role projector nodes (ops only, not behind HAProxy)

HOST=127.0.0.1
PG_WRITE_PORT=5500
PG_READ_PORT=5501
PG_NODES=(pg1 pg2)
declare -A PG_PORT=([pg1]=5511 [pg2]=5512)
declare -A PATRONI_PORT=([pg1]=5521 [pg2]=5522)
ETCD_NODES=(e1 e2 e3)
declare -A ETCD_CLIENT=([e1]=5531 [e2]=5532 [e3]=5533)
declare -A ETCD_PEER=([e1]=5541 [e2]=5542 [e3]=5543)
HAPROXY_STATS_PORT=5590
REDIS_PORTS=(6381 6382 6383 6384 6385 6386)
NATS_NODES=(n1 n2 n3)
declare -A NATS_PORT=([n1]=4231 [n2]=4232 [n3]=4233)
declare -A NATS_ROUTE=([n1]=4241 [n2]=4242 [n3]=4243)
declare -A NATS_HTTP=([n1]=4251 [n2]=4252 [n3]=4253)
COTALK_HTTP_PORT=8180
# More loopback addresses the HAProxy edges (`scripts/cluster edges N`) listen on, port 8180.
EDGE_ADDRS="127.0.0.2 127.0.0.3 127.0.0.4"
COTALK_COMMAND_PORTS=(8181 8182)
COTALK_QUERY_PORTS=(8191 8192 8193)
COTALK_PROJECTOR_PORTS=(8195 8196)

# Pinned: the nats-server build from the Python package registry (Debian's 2.9.10 has no
# `sync_interval`), and the client the smoke check drives JetStream with.
NATS_SERVER_VERSION=2.15.1
NATS_PY_VERSION=2.16.0
PG_VERSION=15

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA_DIR="${COTALK_SERVICES_DATA:-$ROOT_DIR/.data}"
CLUSTER_DIR="${COTALK_CLUSTER_DATA:-$DATA_DIR/cluster}"
mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR="$(cd "$CLUSTER_DIR" && pwd)"
WAIT_SECS="${COTALK_CLUSTER_WAIT:-90}"
VENV="$CLUSTER_DIR/py"
NATS_BIN="$VENV/bin/nats-server"
# The Postgres side lives where the postgres user can reach it (see pg_prepare_dirs).
PG_BASE="$CLUSTER_DIR/pg"
[ -L "$PG_BASE" ] && PG_BASE="$(readlink -f "$PG_BASE")"
PG_BIN="/usr/lib/postgresql/$PG_VERSION/bin"
export PGCONNECT_TIMEOUT=3

log() { printf '%s: %s\n' "$LOG_NAME" "$*" >&2; }
warn() { printf '%s: WARNING: %s\n' "$LOG_NAME" "$*" >&2; }
die() {
	printf '%s: ERROR: %s\n' "$LOG_NAME" "$*" >&2
	exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# shellcheck disable=SC2016 # $0/$1 expand in the inner bash
port_open() { timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null; }
port_closed() { ! port_open "$1"; }

# wait_until SECONDS COMMAND...: poll COMMAND until it succeeds or the deadline passes.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.3
	done
}
# A zombie is dead: pid 1 here may take seconds to reap what it inherited.
pid_alive() {
	[ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null &&
		[ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" != Z ]
}
pid_gone() { ! pid_alive "$1"; }

# Pid from a pidfile we wrote, if it is alive and is the expected program.
our_pid() {
	local pid
	[ -f "$1" ] || return 0
	pid="$(head -n1 "$1" | tr -dc 0-9)"
	if pid_alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]; then echo "$pid"; fi
}

# Milliseconds since the epoch, for recovery times.
now_ms() { date +%s%3N; }

# HTTP status of a loopback GET (000 when nothing answers).
http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$HOST:$1$2" 2>/dev/null || true; }

# Paths of one Postgres node.
pg_data() { echo "$PG_BASE/$1/data"; }
pg_run() { echo "$PG_BASE/$1/run"; }
patroni_pidfile() { echo "$PG_BASE/$1/patroni.pid"; }
patroni_pid() { our_pid "$(patroni_pidfile "$1")" patroni; }
postmaster_pid() {
	local pid f
	f="$(pg_data "$1")/postmaster.pid"
	[ -f "$f" ] || return 0
	pid="$(head -n1 "$f" 2>/dev/null | tr -dc 0-9)" || true
	if pid_alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then echo "$pid"; fi
}
# The Patroni member that holds the leader key (empty if none).
pg_leader() {
	local n
	for n in "${PG_NODES[@]}"; do
		[ "$(http_code "${PATRONI_PORT[$n]}" /primary)" = 200 ] && echo "$n" && return 0
	done
	return 0
}

redis_cli() { timeout 5 redis-cli -h "$HOST" "$@"; }
redis_pidfile() { echo "$CLUSTER_DIR/redis/$1/redis.pid"; }
redis_pid() { our_pid "$(redis_pidfile "$1")" redis-server; }
# The port of the master serving KEY's slot, as the first node that answers sees it.
redis_master_of() {
	local p slot
	for p in "${REDIS_PORTS[@]}"; do
		slot="$(redis_cli -p "$p" cluster keyslot "$1" 2>/dev/null)" || continue
		redis_cli -p "$p" cluster nodes 2>/dev/null | awk -v s="$slot" '
			$3 ~ /master/ && $3 !~ /fail/ {
				for (i = 9; i <= NF; i++) {
					n = split($i, r, "-"); lo = r[1]; hi = (n > 1) ? r[2] : r[1]
					if (s + 0 >= lo + 0 && s + 0 <= hi + 0) { split($2, a, "[:@]"); print a[2]; exit }
				}
			}'
		return 0
	done
}
# The namespace scripts/cluster env gives cotalk; its keys all share this hash tag's slot.
COTALK_CLUSTER_NAMESPACE='{cotalk}'

nats_pidfile() { echo "$CLUSTER_DIR/nats/$1/nats.pid"; }
nats_pid() { our_pid "$(nats_pidfile "$1")" nats-server; }
nats_urls() {
	local n out=""
	for n in "${NATS_NODES[@]}"; do out="${out:+$out,}nats://$HOST:${NATS_PORT[$n]}"; done
	echo "$out"
}
