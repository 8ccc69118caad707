#!/usr/bin/env bash
# The controller with a git server that accepts the connection and never
# answers (libgit2 1.5 has no server timeout): the fetch runs on a thread of
# its own, so the controller stays alive (/healthz answers, /readyz says it
# has not read its manifests) and SIGTERM still stops it, exit 0, in
# bounded time (issue 19, item 6).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
LOG=$WORLD/rotor-output.log
# a TCP server that accepts and then says nothing, for 60 s
"$ROTOR_PYTHON" - "$WORLD/stall.port" <<'PY' &
import socket, sys, threading, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
def accept():
    while True:
        c, _ = s.accept()
        held.append(c)
threading.Thread(target=accept, daemon=True).start()
time.sleep(60)
PY
echo $! >>"$WORLD/pids"
for _ in $(seq 1 100); do [ -s "$WORLD/stall.port" ] && break; sleep 0.05; done
GPORT=$(cat "$WORLD/stall.port")
PORT=$(free_port)
{
	cat "$WORLD/rotor.yaml"
	printf 'source:\n  url: "http://127.0.0.1:%s/raxx/manifests.git"\n  cacheDir: %s\n  interval: 10s\n' "$GPORT" "$WORLD/gitcache"
	printf 'controller:\n  listen: "127.0.0.1:%s"\n' "$PORT"
} >"$WORLD/ctl.yaml"
"$ROTOR_BIN" controller --config "$WORLD/ctl.yaml" >"$WORLD/controller.out" 2>&1 &
CTL=$!
echo "$CTL" >>"$WORLD/pids"
get() { curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$1" 2>/dev/null; }
for _ in $(seq 1 40); do [ "$(get /healthz)" = 200 ] && break; sleep 0.25; done
sleep 2 # the fetch is stalled by now
check "a stalled git server: /healthz answers, /readyz is 503 (manifests not read yet)" \
	'[ "$(get /healthz)" = 200 ] && [ "$(get /readyz)" = 503 ]'
T0=$SECONDS
kill -TERM "$CTL"
for _ in $(seq 1 60); do kill -0 "$CTL" 2>/dev/null || break; sleep 0.25; done
wait "$CTL"
rc=$?
cat "$WORLD/controller.out" >>"$LOG"
out=$(cat "$WORLD/controller.out")
check "SIGTERM stops it with exit 0 within 10 s though the fetch never ends" \
	'[ $rc = 0 ] && [ $((SECONDS - T0)) -le 10 ] && grep -q "still in flight: not waited for" <<<"$out"'
finish
