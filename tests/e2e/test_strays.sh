#!/usr/bin/env bash
# Stray keys (contract §3, §4 step 1): a key the store does not hold and that
# is newer than the stored one.
#   - never used (created behind rotor's back after its key): apply deletes
#     it, and the plan calls it a stray;
#   - used (an unknown party holds a working credential): the manifest is
#     Stalled, apply exits 1 and mutates nothing at all (both doubles' full
#     state, the env file and the audit log compared before and after), also
#     when a rotation is due; the message names the key, the service, the
#     region and the time of its last use;
#   - once an operator deactivates the used stray as the message asks, rotor
#     goes on: the Inactive stray leaves after deleteAfter and the due
#     rotation runs.
# Every `rotor plan` is checked to change nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
# ---- a never-used stray -----------------------------------------------------
new_case unused raxx-unused
run apply "$WORLD/m/unused"
K1=$(akid_of unused)
clock_advance 60
S=$(new_key raxx-unused)
plan unused --detailed-exitcode "$WORLD/m/unused"
check "unused: plan exits 2 with a delete-stray of the stray" \
	'[ $rc = 2 ] && grep -q "delete-stray *$S" <<<"$out"'
check "unused: the plan says stray, never used, not in the store" \
	'grep -q "stray key $S .*never used, not in the store" <<<"$out"'
run apply "$WORLD/m/unused"
check "unused: apply deletes the stray (exit 0)" '[ $rc = 0 ] && [ "$(q keys raxx-unused)" = "$K1 Active" ]'
check "unused: the store and the env file still hold the stored key" '[ "$(akid_of unused)" = "$K1" ] && [ "$(env_akid unused)" = "$K1" ] && [ -z "$(q inv raxx-unused /unused)" ]'
check "unused: the audit log has the delete-stray" 'grep -q "\"action\":\"delete-stray\".*$S" "$WORLD/audit.jsonl"'
check "unused: no record tag is left for the deleted stray" '[ -z "$(q stale raxx-unused)" ]'
converged unused "$WORLD/m/unused"

# ---- a used stray -----------------------------------------------------------
new_case used raxx-used
run apply "$WORLD/m/used"
K1=$(akid_of used)
clock_advance 60
S=$(new_key raxx-used)
clock_advance 60
aws_ctl POST use "{\"access_key_id\": \"$S\", \"service\": \"s3\", \"region\": \"eu-west-1\", \"date\": \"2026-01-01T00:01:30Z\"}" >/dev/null
plan used --detailed-exitcode "$WORLD/m/used"
check "used: plan reports Stalled with nothing to do" '[ $rc = 0 ] && grep -q "status: Stalled" <<<"$out" && ! grep -qE "^  [-+~#?] " <<<"$out"'
check "used: the message names the key, the service, the region and the time" \
	'grep "status: Stalled" <<<"$out" | grep -q "$S" && grep "status: Stalled" <<<"$out" | grep -q "by s3 in eu-west-1" && grep "status: Stalled" <<<"$out" | grep -q "2026-01-01T00:01:30Z"'
run_nomut used apply "$WORLD/m/used"
check "used: apply exits 1 (the manifest is Stalled: a human must act)" '[ $rc = 1 ]'
check "used: apply names the key there too" 'grep -q "$S" <<<"$out"'
# A due rotation changes nothing while the stray is there.
clock_advance $((31 * 86400))
plan used "$WORLD/m/used"
check "used: with a rotation due it is still Stalled" 'grep -q "status: Stalled" <<<"$out"'
run_nomut "used, rotation due" apply "$WORLD/m/used"
check "used, rotation due: apply exits 1" '[ $rc = 1 ]'
check "used: both keys still Active, the store still holds the same key" \
	'[ "$(key_status raxx-used "$K1")" = Active ] && [ "$(key_status raxx-used "$S")" = Active ] && [ "$(akid_of used)" = "$K1" ]'

# ---- resolved by hand: the operator deactivates the stray ---------------------
iam_call UpdateAccessKey UserName=raxx-used AccessKeyId="$S" Status=Inactive
plan used "$WORLD/m/used"
check "resolved: no longer Stalled" '! grep -q "status: Stalled" <<<"$out"'
run apply "$WORLD/m/used"
check "resolved: apply succeeds and keeps the Inactive stray inside its window" \
	'[ $rc = 0 ] && [ "$(key_status raxx-used "$S")" = Inactive ] && [ "$(akid_of used)" = "$K1" ]'
clock_advance 90000
run apply "$WORLD/m/used"
K2=$(akid_of used)
check "resolved: after deleteAfter the stray is deleted and the rotation runs" \
	'[ $rc = 0 ] && [ -z "$(key_status raxx-used "$S")" ] && [ -n "$K2" ] && [ "$K2" != "$K1" ]'
check "resolved: the stored pair authenticates, the env file follows" \
	'[ -z "$(q inv raxx-used /used)" ] && [ "$(env_akid used)" = "$K2" ]'

no_secret_leaked
finish
