# shellcheck shell=bash
# The configuration files scripts/cluster writes, one function per engine, each printing the
# file for one node. Sourced after cluster-common.sh, never run.

# Patroni's settings. bootstrap.dcs is written to etcd once, when the cluster is first created.
# ttl/loop_wait/retry_timeout are short so that a lost primary is replaced in ~10 s;
# synchronous_mode (not strict) makes every commit wait for the standby while there is one,
# and lets the survivor accept writes alone (synchronous_standby_names cleared) when there
# is none.
patroni_config() {
	local n="$1" hosts="" e
	for e in "${ETCD_NODES[@]}"; do hosts="${hosts:+$hosts,}$HOST:${ETCD_CLIENT[$e]}"; done
	cat <<-EOF
		scope: cotalk
		namespace: /cotalk-cluster/
		name: $n
		log:
		  level: INFO
		restapi:
		  listen: $HOST:${PATRONI_PORT[$n]}
		  connect_address: $HOST:${PATRONI_PORT[$n]}
		etcd3:
		  hosts: $hosts
		bootstrap:
		  dcs:
		    ttl: 10
		    loop_wait: 2
		    retry_timeout: 3
		    maximum_lag_on_failover: 1048576
		    synchronous_mode: true
		    synchronous_mode_strict: false
		    postgresql:
		      use_pg_rewind: true
		      use_slots: true
		      parameters:
		        max_connections: 300
		        wal_level: replica
		        hot_standby: 'on'
		        wal_log_hints: 'on'
		        max_wal_senders: 10
		        max_replication_slots: 10
		        wal_keep_size: 256MB
		        synchronous_commit: 'on'
		  initdb:
		    - encoding: UTF8
		    - locale: C.UTF-8
		    - auth: trust
		    - data-checksums
		postgresql:
		  listen: $HOST:${PG_PORT[$n]}
		  connect_address: $HOST:${PG_PORT[$n]}
		  data_dir: $(pg_data "$n")
		  bin_dir: $PG_BIN
		  pgpass: $PG_BASE/$n/pgpass
		  authentication:
		    superuser:
		      username: postgres
		    replication:
		      username: postgres
		    rewind:
		      username: postgres
		  parameters:
		    unix_socket_directories: '$(pg_run "$n")'
		    logging_collector: 'on'
		    log_directory: '$PG_BASE/$n/log'
		  pg_hba:
		    - local all all trust
		    - host all all 127.0.0.1/32 trust
		    - local replication all trust
		    - host replication all 127.0.0.1/32 trust
		watchdog:
		  mode: 'off'
	EOF
}

redis_conf() {
	local port="$1" dir="$CLUSTER_DIR/redis/$1"
	cat <<-EOF
		bind $HOST
		port $port
		daemonize yes
		pidfile $dir/redis.pid
		logfile $dir/redis.log
		dir $dir
		cluster-enabled yes
		cluster-config-file nodes.conf
		cluster-node-timeout 3000
		appendonly yes
		appendfsync everysec
		save ""
	EOF
}

nats_conf() {
	local n="$1" dir="$CLUSTER_DIR/nats/$1" routes="" m
	for m in "${NATS_NODES[@]}"; do routes="${routes:+$routes, }nats-route://$HOST:${NATS_ROUTE[$m]}"; done
	cat <<-EOF
		server_name: $n
		listen: $HOST:${NATS_PORT[$n]}
		http: $HOST:${NATS_HTTP[$n]}
		pid_file: "$dir/nats.pid"
		log_file: "$dir/nats.log"
		jetstream {
		  store_dir: "$dir/js"
		  sync_interval: always
		  max_memory_store: 256MB
		  max_file_store: 4GB
		}
		cluster {
		  name: cotalk
		  listen: $HOST:${NATS_ROUTE[$n]}
		  routes: [$routes]
		}
	EOF
}

# cotalk's HTTP API is one address; the role of a node decides what it serves, so HAProxy
# routes by request: reads (GET/HEAD, the /v1/stream WebSocket, typing) to the query nodes,
# everything else to the command nodes (GET /v1/me/sessions is served by the command side),
# a room's commands always to the same one.
# What HAProxy answers itself when no node of a backend is up: cotalk's own 503 problem, with
# `Retry-After`, so clients retry exactly as they do when a node answers it.
haproxy_problem() {
	local status="$1" reason="$2" body
	body="{\"type\":\"https://cotalk.dev/problems/dependency_unavailable\",\"title\":\"$reason\",\"status\":$status,\"code\":\"dependency_unavailable\",\"detail\":\"no cotalk node can take this request right now; retry shortly\"}"
	printf 'HTTP/1.1 %s %s\r\ncontent-type: application/problem+json\r\ncache-control: no-store\r\nretry-after: 1\r\ncontent-length: %s\r\nconnection: close\r\n\r\n%s' \
		"$status" "$reason" "${#body}" "$body"
}

# haproxy_cotalk_section [ADDRESS...]: cotalk's frontend bound on each address's
# $COTALK_HTTP_PORT ($HOST when none is given), and its backends.
haproxy_cotalk_section() {
	local i a dir="$CLUSTER_DIR/haproxy" addrs=("${@:-$HOST}")
	haproxy_problem 503 "Service Unavailable" >"$dir/cotalk-503.http"
	haproxy_problem 502 "Bad Gateway" >"$dir/cotalk-502.http"
	haproxy_problem 504 "Gateway Timeout" >"$dir/cotalk-504.http"
	cat <<-EOF

		# ---- cotalk nodes (not started by this script; see ARCHITECTURE.md "Cluster deployment")
		frontend cotalk
		  mode http
	EOF
	for a in "${addrs[@]}"; do echo "  bind $a:$COTALK_HTTP_PORT"; done
	cat <<-EOF
		  # The nodes see only HAProxy's address (their per-address cap is lifted), so HAProxy caps
		  # open connections per client address at cotalk's default, 256 (per HAProxy process).
		  # Loopback is always excepted: every client of this loopback deployment is loopback
		  # (the tests and benches open thousands), so here the cap is the production shape only.
		  stick-table type ipv6 size 1m expire 60s store conn_cur
		  tcp-request connection track-sc0 src
		  tcp-request connection reject if { sc0_conn_cur gt 256 } !{ src 127.0.0.0/8 } !{ src ::1 }
		  option forwardfor
		  errorfile 503 $dir/cotalk-503.http
		  errorfile 502 $dir/cotalk-502.http
		  errorfile 504 $dir/cotalk-504.http
		  timeout client 60s
		  timeout http-request 10s
		  timeout http-keep-alive 10s
		  timeout client-fin 5s
		  acl read_method method GET HEAD
		  acl typing path_reg ^/v1/rooms/[^/]+/typing\$
		  acl command_get path /v1/me/sessions
		  acl room_path path_reg ^/v1/rooms/[^/]+(/.*)?\$
		  acl room_direct path /v1/rooms/direct
		  use_backend cotalk_command if command_get
		  use_backend cotalk_query if read_method || typing
		  use_backend cotalk_command_room if room_path !room_direct
		  default_backend cotalk_command

		# Health is /healthz (the process serves), not /readyz (its dependencies answer):
		# Postgres, Redis and NATS are shared by every node, so while one of them fails over
		# no node is better than another. Each node then answers 503 with Retry-After itself,
		# and open WebSockets stay up; only a dead or hung node is taken out (its sessions
		# cut, so clients reconnect to the other). A request that cannot connect to a node is
		# sent to the other one (redispatch) before any byte of it went out.
		# Commands that name no room (sign-up, log-in, /v1/me, friends): round robin.
		backend cotalk_command
		  mode http
		  balance roundrobin
		  timeout server 60s
		  option redispatch
		  retries 2
		  option httpchk
		  http-check send meth GET uri /healthz
		  http-check expect status 200
		  default-server inter 2s fall 2 rise 2 on-marked-down shutdown-sessions
	EOF
	for i in "${!COTALK_COMMAND_PORTS[@]}"; do
		echo "  server command$((i + 1)) $HOST:${COTALK_COMMAND_PORTS[$i]} check"
	done
	cat <<-EOF

		# A room's commands go to one node, so its hot-stream cache stays warm: a hash of
		# /v1/rooms/<id>, consistent so a node leaving moves only its share. The same
		# servers, following cotalk_command's health checks.
		backend cotalk_command_room
		  mode http
		  balance uri depth 3
		  hash-type consistent
		  timeout server 60s
		  option redispatch
		  retries 2
		  default-server on-marked-down shutdown-sessions
	EOF
	for i in "${!COTALK_COMMAND_PORTS[@]}"; do
		echo "  server command$((i + 1)) $HOST:${COTALK_COMMAND_PORTS[$i]} track cotalk_command/command$((i + 1))"
	done
	cat <<-EOF

		# WebSockets live long: least connections, and a tunnel timeout above the stream's
		# ping interval instead of the request timeouts.
		backend cotalk_query
		  mode http
		  balance leastconn
		  timeout server 60s
		  timeout tunnel 1h
		  timeout server-fin 5s
		  option redispatch
		  retries 2
		  option httpchk
		  http-check send meth GET uri /healthz
		  http-check expect status 200
		  default-server inter 2s fall 2 rise 2 on-marked-down shutdown-sessions
	EOF
	for i in "${!COTALK_QUERY_PORTS[@]}"; do
		echo "  server query$((i + 1)) $HOST:${COTALK_QUERY_PORTS[$i]} check"
	done
}

haproxy_config() {
	local n
	cat <<-EOF
		# Generated by scripts/cluster; edits are overwritten on the next start.
		global
		  maxconn 9000
		  log stdout format raw local0 notice
		  stats socket $CLUSTER_DIR/haproxy/haproxy.sock mode 600 level admin

		defaults
		  log global
		  timeout connect 3s
		  timeout check 2s

		listen stats
		  mode http
		  bind $HOST:$HAPROXY_STATS_PORT
		  timeout client 30s
		  timeout server 30s
		  stats enable
		  stats uri /
		  stats refresh 5s

		# ---- Postgres: Patroni's REST API says who is primary (200 on /primary) and who is a
		# running standby (200 on /replica). A node marked down loses its sessions at once, so
		# a pool never keeps writing to a demoted primary.
		listen pg_write
		  mode tcp
		  bind $HOST:$PG_WRITE_PORT
		  timeout client 1h
		  timeout server 1h
		  option httpchk
		  http-check send meth OPTIONS uri /primary
		  http-check expect status 200
		  default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
	EOF
	for n in "${PG_NODES[@]}"; do
		echo "  server $n $HOST:${PG_PORT[$n]} check port ${PATRONI_PORT[$n]}"
	done
	cat <<-EOF

		# Reads: the standby; the primary (tracking pg_write's checks) only when no standby is up.
		listen pg_read
		  mode tcp
		  bind $HOST:$PG_READ_PORT
		  balance leastconn
		  timeout client 1h
		  timeout server 1h
		  option httpchk
		  http-check send meth OPTIONS uri /replica
		  http-check expect status 200
		  default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
	EOF
	for n in "${PG_NODES[@]}"; do
		echo "  server $n $HOST:${PG_PORT[$n]} check port ${PATRONI_PORT[$n]}"
	done
	for n in "${PG_NODES[@]}"; do
		echo "  server ${n}_primary $HOST:${PG_PORT[$n]} backup track pg_write/$n"
	done
	haproxy_cotalk_section
}

# An edge: one more HAProxy process carrying only cotalk's frontend (no Postgres, no stats),
# bound to $HOST:$COTALK_HTTP_PORT beside the main one (HAProxy sets SO_REUSEPORT, so the kernel
# spreads new connections over every process listening there) and to $EDGE_ADDRS, more loopback
# addresses on the same port, so one client machine can open more connections than it has
# ephemeral ports towards one address. A proxied connection costs a process two descriptors:
# `maxconn 9000` keeps one inside the 20 000 a process may hold here.
haproxy_edge_config() {
	cat <<-EOF
		# Generated by scripts/cluster edges; edits are overwritten on the next start.
		global
		  maxconn 9000
		  log stdout format raw local0 notice

		defaults
		  log global
		  timeout connect 3s
		  timeout check 2s
	EOF
	# shellcheck disable=SC2086
	haproxy_cotalk_section "$HOST" $EDGE_ADDRS
}

