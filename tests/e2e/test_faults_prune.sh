#!/usr/bin/env bash
# Persistent faults on the IAM calls of the steps after a rotation
# (contract §4 steps 6-7, §5, invariants 1-4): UpdateAccessKey in a pass
# where the predecessor is to be deactivated, DeleteAccessKey and UntagUser
# in a pass where the Inactive predecessor is to be deleted; each throttled
# (Throttling) and then failing (HTTP 500 ServiceFailure) on every attempt.
# apply must exit 1 with an error naming the call and the code; afterwards
# the stored pair still authenticates, its key is Active, the user has at
# most 2 keys; with the fault cleared the next apply succeeds, the plan
# converges, and no record tag is left behind for a deleted key (§5: "Remove
# the tag when the key is deleted"). Every `rotor plan` is checked to change
# nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
source "$(dirname "$0")/faultcases.sh"
for kind in throttle error500; do
	[ $kind = throttle ] && code=Throttling || code=ServiceFailure
	n=updateaccesskey-$kind
	due_deactivation "$n"
	aws_fault UpdateAccessKey $kind
	faulted_pass "UpdateAccessKey $kind" "$n" "UpdateAccessKey(" "$code"
	check "UpdateAccessKey $kind: the predecessor was deactivated in the end" \
		'[ "$(q keys raxx-$n | grep -c Inactive)" = 1 ]'
	for call in DeleteAccessKey UntagUser; do
		n=$(tr 'A-Z' 'a-z' <<<"$call")-$kind
		due_deletion "$n"
		aws_fault "$call" $kind
		faulted_pass "$call $kind" "$n" "$call(" "$code"
		check "$call $kind: the predecessor was deleted in the end" '[ "$(nkeys raxx-$n)" = 1 ]'
	done
done

no_secret_leaked
finish
