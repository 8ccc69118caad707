#!/usr/bin/env bash
# Persistent faults on every Infisical route rotor calls (contract §4 step 4,
# invariants 1, 2, 4, 6): login (universal auth) and list (observing the
# store) in a pass with a rotation due, batch_update (the store write of a
# rotation) and batch_create (the first write, adopting a user), each
# throttled (429 RateLimitExceeded) and then failing (500
# InternalServerError) on every attempt. apply must exit 1 with an error
# naming the route and the code; afterwards the stored pair still
# authenticates, its key is Active, the user has at most 2 keys; with the
# fault cleared the next apply completes the rotation and the plan converges
# (for the write routes: the key rotor validated but could not store is its
# own interrupted attempt, to be deleted, not a stray that stalls the user).
# Throttling goes through the double's rate limiter (Retry-After: 1) rather
# than the canned fault (Retry-After: 60, which rotor honours three times:
# 3 minutes a pass). Every `rotor plan` is checked to
# change nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
source "$(dirname "$0")/faultcases.sh"
for kind in throttle error500; do
	[ $kind = throttle ] && code=RateLimitExceeded || code=InternalServerError

	n=login-$kind
	due_rotation "$n"
	if [ $kind = throttle ]; then inf_throttle logins_per_minute POST /api/v1/auth/universal-auth/login; else inf_fault login $kind; fi
	faulted_pass "login $kind" "$n" "universal-auth login" "$code"

	n=list-$kind
	due_rotation "$n"
	if [ $kind = throttle ]; then inf_throttle secret_reads_per_minute GET /api/v3/secrets/raw; else inf_fault list $kind; fi
	faulted_pass "list $kind" "$n" "list secrets" "$code"

	n=batchupdate-$kind
	due_rotation "$n"
	K1=$(akid_of "$n")
	if [ $kind = throttle ]; then inf_throttle secret_writes_per_minute PATCH /api/v3/secrets/batch/raw; else inf_fault batch_update $kind; fi
	faulted_pass "batch_update $kind" "$n" "update the pair" "$code"
	check "batch_update $kind: the rotation happened in the end, with 2 keys" \
		'[ -n "$(akid_of "$n")" ] && [ "$(akid_of "$n")" != "$K1" ] && [ "$(nkeys raxx-$n)" = 2 ]'

	n=batchcreate-$kind
	due_adoption "$n"
	L=$(q keys raxx-$n | awk '{print $1}')
	if [ $kind = throttle ]; then inf_throttle secret_writes_per_minute POST /api/v3/secrets/batch/raw; else inf_fault batch_create $kind; fi
	faulted_pass "batch_create $kind" "$n" "create the pair" "$code"
	check "batch_create $kind: the old key $L is still Active" '[ "$(key_status raxx-$n "$L")" = Active ]'
done

no_secret_leaked
finish
