#!/usr/bin/env bash
# Persistent faults on the IAM calls that start a rotation (contract §4 steps
# 1-2, §5, invariants 1, 2, 4): TagUser (the intent record) and
# CreateAccessKey, each throttled (Throttling) and then failing (HTTP 500
# ServiceFailure) on every attempt, in a pass with a rotation due. apply must
# exit 1 with an error naming the call and the code; afterwards the stored
# pair still authenticates, its key is Active, the user has at most 2 keys;
# with the fault cleared the next apply rotates and the plan converges.
# Every `rotor plan` is checked to change nothing.
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
	for call in TagUser CreateAccessKey; do
		n=$(tr 'A-Z' 'a-z' <<<"$call")-$kind
		due_rotation "$n"
		K1=$(akid_of "$n")
		aws_fault "$call" $kind
		faulted_pass "$call $kind" "$n" "$call(" "$code"
		check "$call $kind: the rotation happened in the end" '[ -n "$(akid_of "$n")" ] && [ "$(akid_of "$n")" != "$K1" ]'
	done
done

no_secret_leaked
finish
