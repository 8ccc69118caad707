#!/usr/bin/env bash
# Infisical's rate limit during a rotation's store write (contract §4 step
# 4): a 429 RateLimitExceeded names its wait either in a Retry-After header
# or only in its message ("Please try again in N seconds"); rotor must wait
# that long, not more, and then succeed once the window has passed.
#   - control: Retry-After: 5 (message "in 1 minute") → rotor waits 5 s;
#   - no Retry-After, message "Please try again in 5 seconds" → rotor must
#     wait 5 s too (a 60 s default means a pass blocked for minutes).
# The double's window is on the shared clock, which a background job moves
# past the window 1 s after rotor got its 429. Each apply is bounded by `timeout
# 30`; a killed pass must still leave the invariants intact.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
# rotor must really wait while a background job moves the window: real
# sleeps (CTest runs the other scenarios with sleeps in simulated time).
export ROTOR_TEST_SLEEP_SCALE=1
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
source "$(dirname "$0")/faultcases.sh"
limited_write() { # NAME RETRY_AFTER_HEADER(true|false)
	due_rotation "$1"
	K1=$(akid_of "$1")
	inf_ctl POST settings "{\"secret_writes_per_minute\": 1, \"rate_limit_message_seconds\": true, \"retry_after_header\": $2}" >/dev/null
	curl -sS -o /dev/null -X PATCH -H 'Content-Type: application/json' --data '{}' "$INF_URL/api/v3/secrets/batch/raw"
	clock_advance 55   # the window has 5 s left: "try again in 5 seconds"
	# Once rotor has been told to wait (the first 429 of the write), move
	# the shared clock past the window.
	ISEQ=$(q seq | awk '{print $2}')
	(
		for _ in $(seq 1 300); do
			inf_ctl GET "calls?since=$ISEQ" | grep -q '"status": *429' && break
			sleep 0.1
		done
		sleep 1
		clock_advance 10
	) &
	local mover=$! start=$SECONDS
	out=$(timeout 30 "$ROTOR_BIN" apply "$WORLD/m/$1" 2>&1)
	rc=$?
	elapsed=$((SECONDS - start))
	wait $mover
	printf '+ rotor apply (%s)\n%s\n[exit %s]\n' "$1" "$out" "$rc" >>"$LOG"
	q secrets >>"$WORLD/secrets.seen"
	clear_faults
	inf_ctl POST settings '{"rate_limit_message_seconds": false, "retry_after_header": true}' >/dev/null
}

got_429() { inf_ctl GET "calls?since=$ISEQ" | grep -q '"status": *429'; }

limited_write header true
check "Retry-After: 5: Infisical did answer the write with 429 first" got_429
check "Retry-After: 5: apply waits, then succeeds within 25 s" '[ $rc = 0 ] && [ $elapsed -lt 25 ]' ||
	echo "#   exit $rc after ${elapsed}s"
check "Retry-After: 5: the rotation is stored" '[ "$(akid_of header)" != "$K1" ] && [ -z "$(q inv raxx-header /header)" ]'

limited_write message false
check "message \"in 5 seconds\": Infisical did answer the write with 429 first" got_429
check "message \"in 5 seconds\", no Retry-After: apply waits, then succeeds within 25 s" '[ $rc = 0 ] && [ $elapsed -lt 25 ]' ||
	echo "#   exit $rc after ${elapsed}s (124: killed by timeout 30)"
check "message \"in 5 seconds\": the invariants hold even if the pass was cut short" '[ -z "$(q inv raxx-message /message)" ] && [ "$(nkeys raxx-message)" -le 2 ]'
check "message \"in 5 seconds\": the rotation is stored" '[ "$(akid_of message)" != "$K1" ]'

no_secret_leaked
finish
