#!/usr/bin/env bash
# Node restart under load: the spike question (does every client end with
# every event exactly once?) when the SERVER restarts instead of the clients
# dropping. Loopback only; about 30 s.
#
#   1. A NATS holder: an `arenacast serve` whose only job is its embedded NATS
#      with JetStream (--nats-listen). Nobody connects to its HTTP port. It
#      keeps the stream up while the node restarts, so publishing continues.
#   2. The node: `arenacast serve --nats-url <holder>` on $BENCH_PORT.
#   3. The load tool (--preset restart) connects the clients, publishes through
#      the holder's NATS throughout, and 1 s in runs "$dir/node.sh restart":
#      kill -$RESTART_SIGNAL the node (TERM: graceful, --shutdown-drain spreads
#      the 4000 closes; KILL: every connection ends at once), wait until it has
#      exited, keep the port closed $RESTART_DOWN s more, start the node again
#      with the same flags and data dir, and return once it listens (serve
#      listens only after warming its recent-event log from JetStream,
#      --warm-events). Clients reconnect with backoff and resume with since.
#
# Usage: restart.sh <arenacast binary> <arenacast-bench binary> [extra load-tool flags]
# Environment: RESTART_SIGNAL (TERM), RESTART_DRAIN (2s), RESTART_DOWN (2),
# BENCH_PORT (18680), BENCH_NATS_PORT (14680), BENCH_LOCK (/tmp/arenacast-bench.lock;
# empty: take no lock, e.g. when the caller already holds it).
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 <arenacast binary> <arenacast-bench binary> [load-tool flags]" >&2
	exit 2
fi
lock=${BENCH_LOCK-/tmp/arenacast-bench.lock}
if [ -n "$lock" ] && [ -z "${ARENACAST_BENCH_LOCKED:-}" ]; then
	# Never overlap with other measurements on this machine.
	ARENACAST_BENCH_LOCKED=1 exec flock "$lock" "$0" "$@"
fi
SERVER=$(realpath "$1") BENCH=$(realpath "$2")
shift 2
SIG=${RESTART_SIGNAL:-TERM} DRAIN=${RESTART_DRAIN:-2s} DOWN=${RESTART_DOWN:-2}
PORT=${BENCH_PORT:-18680} NATS_PORT=${BENCH_NATS_PORT:-14680} HOLDER_PORT=$((${BENCH_PORT:-18680} + 1))
pin0=() pin1=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin0=(taskset -c 0) pin1=(taskset -c 1); fi

dir=$(mktemp -d /tmp/arenacast-restart.XXXXXX)
cleanup() {
	for f in "$dir/node.pid" "$dir/holder.pid"; do
		if [ -s "$f" ]; then kill "$(cat "$f")" 2>/dev/null || true; fi
	done
	wait 2>/dev/null || true
	# The restarted node is not our child: wait for it by pid.
	if [ -s "$dir/node.pid" ]; then
		for _ in $(seq 100); do [ -e "/proc/$(cat "$dir/node.pid")" ] || break; sleep 0.1; done
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

"${pin0[@]}" "$SERVER" serve --keys testdata/devkeys --data-dir "$dir/holder" --listen "127.0.0.1:$HOLDER_PORT" \
	--nats-listen "127.0.0.1:$NATS_PORT" --log-level warn >"$dir/holder.log" 2>&1 &
echo $! >"$dir/holder.pid"
for _ in $(seq 100); do listening "$NATS_PORT" && listening "$HOLDER_PORT" && break; sleep 0.1; done
listening "$HOLDER_PORT" || { echo "NATS holder did not start:" >&2; cat "$dir/holder.log" >&2; exit 1; }

# node.sh starts the node, or restarts it; the load tool runs "node.sh restart".
cat >"$dir/node.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
start() {
	${pin0[*]} "$SERVER" serve --keys testdata/devkeys --data-dir "$dir/node" --listen "127.0.0.1:$PORT" \\
		--nats-url "nats://127.0.0.1:$NATS_PORT" --shutdown-drain "$DRAIN" --log-level warn >>"$dir/node.log" 2>&1 &
	echo \$! >"$dir/node.pid"
	for _ in \$(seq 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
		[ -e "/proc/\$(cat "$dir/node.pid")" ] || break
		sleep 0.02
	done
	echo "node did not start listening on $PORT; log:" >&2
	cat "$dir/node.log" >&2
	exit 1
}
# running: the pid exists and is not a zombie (the first node is restart.sh's child).
running() { [ -e "/proc/\$1/stat" ] && [ "\$(awk '{print \$3}' "/proc/\$1/stat" 2>/dev/null)" != Z ]; }
case "\$1" in
start) start ;;
restart)
	pid=\$(cat "$dir/node.pid")
	t0=\$(date +%s.%N)
	kill -$SIG "\$pid"
	while running "\$pid"; do sleep 0.02; done
	t1=\$(date +%s.%N)
	sleep $DOWN
	start
	t2=\$(date +%s.%N)
	echo "node.sh: SIG$SIG -> exited after \$(awk "BEGIN{printf \"%.2f\", \$t1 - \$t0}") s; port closed $DOWN s more; new node (pid \$(cat "$dir/node.pid")) listening after \$(awk "BEGIN{printf \"%.2f\", \$t2 - \$t1 - $DOWN}") s" >&2
	;;
esac
EOF
chmod +x "$dir/node.sh"
"$dir/node.sh" start

echo "== restart: node on 127.0.0.1:$PORT (pid $(cat "$dir/node.pid")), NATS holder pid $(cat "$dir/holder.pid") on $NATS_PORT; SIG$SIG, drain $DRAIN, port closed ${DOWN}s"
status=0
"${pin1[@]}" "$BENCH" --url "ws://127.0.0.1:$PORT/events/" --nats-url "nats://127.0.0.1:$NATS_PORT" \
	--key testdata/devkeys/dev.pem --timeout 150s --preset restart --restart-cmd "$dir/node.sh restart" "$@" || status=$?
if [ -s "$dir/node.log" ]; then
	echo "== node log (warnings and errors)"
	tail -n 20 "$dir/node.log"
fi
exit $status
