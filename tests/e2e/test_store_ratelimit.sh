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
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
# ---- fault cases --------------------------------------------------------------
# Setups: each puts a fresh case NAME (user raxx-NAME, folder /NAME) in a state
# where the next pass needs the call under test.
due_rotation() { # the store holds a key and a rotation is due (spec.rotateRequestedAt)
	new_case "$1" "raxx-$1"
	run apply "$WORLD/m/$1"
	clock_advance 60
	sed -i "s/^  deleteAfter: 1d$/  deleteAfter: 1d\n  rotateRequestedAt: \"$(clock_now)\"/" "$WORLD/m/$1/$1.yaml"
	clock_advance 60
}
due_adoption() { # the store is empty, the user has one old key
	new_case "$1" "raxx-$1" '[{"created": "2025-10-01T00:00:00Z"}]'
}
due_deactivation() { # after a rotation and its grace: the predecessor is to be deactivated
	new_case "$1" "raxx-$1" '[{"created": "2025-10-01T00:00:00Z"}]'
	run apply "$WORLD/m/$1"
	clock_advance 3700
}
due_deletion() { # the Inactive predecessor's deleteAfter is over
	due_deactivation "$1"
	run apply "$WORLD/m/$1"
	clock_advance 90000
}
# Infisical throttling through the double's own rate limiter (429
# RateLimitExceeded with Retry-After: 1): the canned "throttle" fault asks for
# Retry-After: 60, which rotor honours three times (3 minutes a pass). The
# window of SETTING (secret_reads_per_minute, secret_writes_per_minute,
# logins_per_minute) is filled by one unauthenticated request (limits apply
# before authentication), then the clock moves to the window's last second.
inf_throttle() { # SETTING METHOD PATH
	inf_ctl POST settings "{\"$1\": 1}" >/dev/null
	curl -sS -o /dev/null -X "$2" -H 'Content-Type: application/json' --data '{}' "$INF_URL$3"
	clock_advance 59
}
clear_faults() {
	aws_ctl DELETE faults >/dev/null
	inf_ctl DELETE faults >/dev/null
	inf_ctl POST settings '{"secret_reads_per_minute": null, "secret_writes_per_minute": null, "logins_per_minute": null}' >/dev/null
}
# faulted_pass LABEL NAME CALL CODE: with the fault installed, apply fails
# with an error naming CALL and CODE and the invariants hold; with the fault
# cleared the next apply succeeds and converges.
faulted_pass() {
	local label=$1 name=$2 call=$3 code=$4 user=raxx-$2 stored bad
	stored=$(akid_of "$name")
	run apply "$WORLD/m/$name"
	check "$label: apply exits 1" '[ $rc = 1 ]'
	check "$label: the error names ${call%(} and $code" 'grep -qF -- "$call" <<<"$out" && grep -qF -- "$code" <<<"$out"'
	bad=$(q inv "$user" "/$name")
	check "$label: invariants hold (stored pair authenticates, its key Active; <= 2 keys; no LimitExceeded)" \
		'[ -z "$bad" ] && [ "$(q limit_exceeded)" = 0 ] && { [ -z "$stored" ] || [ "$(akid_of "$name")" = "$stored" ]; }' ||
		echo "#   $bad"
	clear_faults
	run apply "$WORLD/m/$name"
	check "$label: with the fault cleared the next apply succeeds" '[ $rc = 0 ]'
	converged "$label" "$WORLD/m/$name"
	check "$label: no rotor record is left for a key that no longer exists" '[ -z "$(q stale "$user")" ]' ||
		q stale "$user" | sed 's/^/#   /'
	check "$label: the stored pair authenticates at the end" '[ -z "$(q inv "$user" "/$name")" ] && [ -n "$(akid_of "$name")" ]'
}
aws_fault() { # ACTION KIND
	aws_ctl POST faults "{\"rules\": [{\"match\": \"$1\", \"kind\": \"$2\", \"count\": -1}]}" >/dev/null
}
inf_fault() { # ROUTE KIND
	inf_ctl POST faults "{\"rules\": [{\"match\": \"$1\", \"kind\": \"$2\", \"count\": -1}]}" >/dev/null
}
# ------------------------------------------------------------------------------
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
