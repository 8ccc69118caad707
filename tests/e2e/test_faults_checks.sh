#!/usr/bin/env bash
# Persistent faults on the calls rotor checks with before it acts (contract
# §4 steps 3 and 6, invariants 1, 2, 4): STS GetCallerIdentity in a pass with
# a rotation due (the new key's validation: it never validates, so it is
# deleted again) and GetAccessKeyLastUsed in a pass where the predecessor is
# to be deactivated (its last use decides), each throttled (Throttling) and
# then failing (HTTP 500 ServiceFailure) on every attempt. apply must exit 1
# with an error naming the call and the code; afterwards the stored pair
# still authenticates, its key is Active, the user has at most 2 keys; with
# the fault cleared the next apply completes the step and the plan
# converges. Every `rotor plan` is checked to change nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
source "$(dirname "$0")/faultcases.sh"
export ROTOR_VALIDATE_TIMEOUT_MS=1500
for kind in throttle error500; do
	[ $kind = throttle ] && code=Throttling || code=ServiceFailure
	n=getcalleridentity-$kind
	due_rotation "$n"
	K1=$(akid_of "$n")
	aws_fault GetCallerIdentity $kind
	faulted_pass "GetCallerIdentity $kind" "$n" "GetCallerIdentity(" "$code"
	check "GetCallerIdentity $kind: the rotation happened in the end" '[ -n "$(akid_of "$n")" ] && [ "$(akid_of "$n")" != "$K1" ]'

	n=getaccesskeylastused-$kind
	due_deactivation "$n"
	aws_fault GetAccessKeyLastUsed $kind
	faulted_pass "GetAccessKeyLastUsed $kind" "$n" "GetAccessKeyLastUsed(" "$code"
	check "GetAccessKeyLastUsed $kind: the predecessor was deactivated in the end" \
		'[ "$(q keys raxx-$n | grep -c Inactive)" = 1 ]'
done

no_secret_leaked
finish
