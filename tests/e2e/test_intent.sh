#!/usr/bin/env bash
# The intent record and crash recovery (contract §5, invariants 1, 4, 6):
#   - CreateAccessKey succeeds but its reply is lost (fault drop_after: the
#     key exists, rotor never sees its secret): the apply fails; the next
#     apply deletes the orphan (newer than the intent, never used, not in the
#     store) and completes the rotation; converged within two passes; IAM's
#     LimitExceeded is never hit on the way;
#   - rotor killed (SIGKILL) while it waits for the new key to validate: the
#     next apply deletes the orphan and rotates;
#   - the pass fails after validation, at the store write (Infisical refuses
#     the batch): the next apply, with the store healthy again, must recognise
#     the validated key as rotor's own attempt, delete it and rotate;
#   - the store write lands but its reply is lost (drop_after on the batch):
#     the next apply converges without another rotation.
# At every step: the stored pair authenticates, the stored key is never
# Inactive or deleted, the user has at most two keys. Every `rotor plan` is
# checked to change nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
invariants() { # LABEL NAME USER
	local bad
	bad=$(q inv "$3" "/$2")
	check "$1: the stored pair authenticates, at most 2 keys" '[ -z "$bad" ]' || echo "#   $bad"
}
rotation_due() { # NAME USER: a case whose store holds K1 and whose rotation is due
	new_case "$1" "$2"
	run apply "$WORLD/m/$1"
	clock_advance 60
	sed -i "s/^  deleteAfter: 1d$/  deleteAfter: 1d\n  rotateRequestedAt: \"$(clock_now)\"/" "$WORLD/m/$1/$1.yaml"
	clock_advance 60
	K1=$(akid_of "$1")
}

# ---- CreateAccessKey's reply lost ---------------------------------------------
rotation_due lost raxx-lost
aws_ctl POST faults '{"rules": [{"match": "CreateAccessKey", "kind": "drop_after", "count": 1}]}' >/dev/null
run apply "$WORLD/m/lost"
check "lost: the apply fails (exit 1) naming CreateAccessKey" '[ $rc = 1 ] && grep -q "CreateAccessKey" <<<"$out"'
aws_ctl DELETE faults >/dev/null
O=$(q keys raxx-lost | awk -v k="$K1" '$1 != k {print $1}')
check "lost: the orphan key exists, the store still holds the old key" '[ -n "$O" ] && [ "$(akid_of lost)" = "$K1" ]'
check "lost: IAM never answered LimitExceeded (invariant 4)" '[ "$(q limit_exceeded)" = 0 ]'
invariants "lost, after pass 1" lost raxx-lost
check "lost: rotor recorded its intent before creating the key" '[ -n "$(q tag raxx-lost rotor-intent)" ]'
plan lost "$WORLD/m/lost"
check "lost: the plan deletes the orphan as left by an interrupted rotation" \
	'grep -q "delete-stray *$O" <<<"$out" && grep -q "interrupted rotation" <<<"$out"'
run apply "$WORLD/m/lost"
K2=$(akid_of lost)
check "lost: pass 2 succeeds: the orphan is gone, a new key is stored" \
	'[ $rc = 0 ] && [ -z "$(key_status raxx-lost "$O")" ] && [ -n "$K2" ] && [ "$K2" != "$K1" ] && [ "$K2" != "$O" ]'
invariants "lost, after pass 2" lost raxx-lost
check "lost: the env file holds the new key" '[ "$(env_akid lost)" = "$K2" ]'
converged lost "$WORLD/m/lost"
check "lost: the intent record is gone" '[ -z "$(q tag raxx-lost rotor-intent)" ]'

# ---- killed while validating ------------------------------------------------
rotation_due killed raxx-killed
# The new key never authenticates (as while IAM propagates it); the first
# GetCallerIdentity, the check of the stored pair, goes through.
aws_ctl POST faults '{"rules": [{"match": "GetCallerIdentity", "kind": "error", "status": 403, "code": "InvalidClientTokenId", "message": "The security token included in the request is invalid.", "after": 1, "count": -1}]}' >/dev/null
seq0=$(q seq | awk '{print $1}')
# real sleeps: rotor must still be retrying the validation when it is killed
ROTOR_TEST_SLEEP_SCALE=1 "$ROTOR_BIN" apply "$WORLD/m/killed" >"$WORLD/killed.out" 2>&1 &
pid=$!
created=0
for _ in $(seq 1 100); do
	aws_ctl GET "calls?since=$seq0" | grep -q '"CreateAccessKey"' && { created=1; break; }
	sleep 0.1
done
sleep 0.5
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
cat "$WORLD/killed.out" >>"$LOG"
aws_ctl DELETE faults >/dev/null
O=$(q keys raxx-killed | awk -v k="$K1" '$1 != k {print $1}')
check "killed: rotor was killed after CreateAccessKey, leaving an orphan" '[ $created = 1 ] && [ -n "$O" ]'
invariants "killed, after the kill" killed raxx-killed
run apply "$WORLD/m/killed"
K2=$(akid_of killed)
check "killed: the next apply deletes the orphan and rotates" \
	'[ $rc = 0 ] && [ -z "$(key_status raxx-killed "$O")" ] && [ -n "$K2" ] && [ "$K2" != "$K1" ]'
invariants "killed, after pass 2" killed raxx-killed
converged killed "$WORLD/m/killed"

# ---- the store write refused after validation ----------------------------------
rotation_due refused raxx-refused
inf_ctl POST faults '{"rules": [{"match": "batch_update", "kind": "error500", "count": -1}]}' >/dev/null
run apply "$WORLD/m/refused"
check "refused: the apply fails (exit 1) at the store write" '[ $rc = 1 ] && grep -q "update the pair" <<<"$out"'
inf_ctl DELETE faults >/dev/null
O=$(q keys raxx-refused | awk -v k="$K1" '$1 != k {print $1}')
check "refused: the store and the env file still hold the old key" '[ "$(akid_of refused)" = "$K1" ] && [ "$(env_akid refused)" = "$K1" ]'
invariants "refused, after pass 1" refused raxx-refused
plan refused "$WORLD/m/refused"
check "refused: the plan does not stall on the key rotor validated but could not store" '! grep -q "status: Stalled" <<<"$out"'
run apply "$WORLD/m/refused"
K2=$(akid_of refused)
check "refused: the next apply completes a rotation" '[ $rc = 0 ] && [ -n "$K2" ] && [ "$K2" != "$K1" ]'
check "refused: the key rotor could not store is gone" '[ -n "$O" ] && [ -z "$(key_status raxx-refused "$O")" ]'
invariants "refused, after pass 2" refused raxx-refused
converged refused "$WORLD/m/refused"

# ---- the store write lands, its reply is lost ---------------------------------------
rotation_due landed raxx-landed
inf_ctl POST faults '{"rules": [{"match": "batch_update", "kind": "drop_after", "count": -1}]}' >/dev/null
run apply "$WORLD/m/landed"
inf_ctl DELETE faults >/dev/null
K2=$(akid_of landed)
check "landed: the store holds the new key (the write landed)" '[ -n "$K2" ] && [ "$K2" != "$K1" ]'
invariants "landed, after pass 1" landed raxx-landed
check "landed: the old key is still Active" '[ "$(key_status raxx-landed "$K1")" = Active ]'
[ $rc = 0 ] || run apply "$WORLD/m/landed"
check "landed: within two passes the apply succeeds, no further key" \
	'[ $rc = 0 ] && [ "$(akid_of landed)" = "$K2" ] && [ "$(nkeys raxx-landed)" = 2 ]'
check "landed: the env file holds the new key" '[ "$(env_akid landed)" = "$K2" ]'
converged landed "$WORLD/m/landed"
check "IAM never answered LimitExceeded in this run" '[ "$(q limit_exceeded)" = 0 ]'

no_secret_leaked
finish
