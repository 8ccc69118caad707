#!/usr/bin/env bash
# Healing (contract §4, last paragraph): each way the store and IAM can fall
# apart by hand makes a rotation due, and the rotation puts a working pair in
# the store and the consumer:
#   - the stored key was deleted from IAM by hand;
#   - the stored key was made Inactive by hand (and, while the store still
#     holds it, it is never deleted: not while the rotation cannot complete,
#     not while the user's second key blocks it);
#   - the stored secret was replaced by a wrong value (a new version);
#   - half a pair: only AWS_ACCESS_KEY_ID (or only the secret) is left.
# Every `rotor plan` is checked to change nothing. Each case has its own IAM
# user, store folder and manifest directory.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
# ---- the stored key deleted from IAM by hand --------------------------------
new_case gone raxx-gone
run apply "$WORLD/m/gone"
K1=$(akid_of gone)
check "gone: adoption stored a key" '[ $rc = 0 ] && [ -n "$K1" ]'
iam_call DeleteAccessKey UserName=raxx-gone AccessKeyId="$K1"
plan gone --detailed-exitcode "$WORLD/m/gone"
check "gone: plan exits 2 and says the stored key no longer exists in IAM" \
	'[ $rc = 2 ] && grep -q "stored key $K1 no longer exists in IAM" <<<"$out"'
run apply "$WORLD/m/gone"
K2=$(akid_of gone)
check "gone: apply rotates (exit 0, a new key in the store)" '[ $rc = 0 ] && [ -n "$K2" ] && [ "$K2" != "$K1" ]'
check "gone: the stored pair is the user's only key, Active, with its secret" \
	'[ -z "$(q inv raxx-gone /gone)" ] && [ "$(q keys raxx-gone)" = "$K2 Active" ]'
check "gone: the env file holds the new key" '[ "$(env_akid gone)" = "$K2" ]'
converged gone "$WORLD/m/gone"

# ---- the stored key made Inactive by hand ----------------------------------
new_case idle raxx-idle
run apply "$WORLD/m/idle"
K1=$(akid_of idle)
iam_call UpdateAccessKey UserName=raxx-idle AccessKeyId="$K1" Status=Inactive
plan idle --detailed-exitcode "$WORLD/m/idle"
check "idle: plan exits 2 and says the stored key is Inactive" \
	'[ $rc = 2 ] && grep -q "stored key $K1 is Inactive" <<<"$out"'
# While no new key validates (IAM never propagates it), every pass fails and
# the store keeps holding the Inactive key: it must survive deleteAfter.
aws_ctl POST settings '{"propagation_delay": 3600}' >/dev/null
export ROTOR_VALIDATE_TIMEOUT_MS=1500
kept=1 allfail=1
for day in 1 2 3; do
	run apply "$WORLD/m/idle"
	[ $rc = 1 ] || allfail=0
	[ "$(key_status raxx-idle "$K1")" = Inactive ] && [ "$(akid_of idle)" = "$K1" ] || kept=0
	[ "$(nkeys raxx-idle)" -le 2 ] || kept=0
	clock_advance 90000
done
check "idle: while no new key validates, each apply fails (exit 1)" '[ $allfail = 1 ]'
check "idle: the Inactive key the store holds is kept through 3 x deleteAfter" '[ $kept = 1 ]'
check "idle: the unvalidated keys were deleted again" '[ "$(q keys raxx-idle)" = "$K1 Inactive" ]'
aws_ctl POST settings '{"propagation_delay": 0}' >/dev/null
export ROTOR_VALIDATE_TIMEOUT_MS=20000
run apply "$WORLD/m/idle"
K2=$(akid_of idle)
check "idle: once keys validate, apply rotates" '[ $rc = 0 ] && [ -n "$K2" ] && [ "$K2" != "$K1" ]'
check "idle: the new pair authenticates and the env file holds it" \
	'[ -z "$(q inv raxx-idle /idle)" ] && [ "$(env_akid idle)" = "$K2" ]'
check "idle: the old Inactive key is still there right after the store moved on" \
	'[ "$(key_status raxx-idle "$K1")" = Inactive ]'
run apply "$WORLD/m/idle"   # starts its deleteAfter window (no record of when it became Inactive)
clock_advance 82800
run apply "$WORLD/m/idle"
check "idle: 23h later (deleteAfter 1d) the old key is still kept" '[ "$(key_status raxx-idle "$K1")" = Inactive ]'
clock_advance 7200
run apply "$WORLD/m/idle"
check "idle: after deleteAfter the old key is deleted" '[ "$(q keys raxx-idle)" = "$K2 Active" ]'

# The stored key made Inactive while the user's other key is still Active:
# no room for a rotation, and the stored Inactive key must not be the one
# that goes.
new_case idle2 raxx-idle2 '[{"created": "2025-10-01T00:00:00Z"}]'
L=$(q keys raxx-idle2 | awk '{print $1}')
run apply "$WORLD/m/idle2"
K1=$(akid_of idle2)
iam_call UpdateAccessKey UserName=raxx-idle2 AccessKeyId="$K1" Status=Inactive
plan idle2 "$WORLD/m/idle2"
check "idle2: plan says the stored key is Inactive" 'grep -q "$K1 is Inactive" <<<"$out"'
kept=1
for day in 1 2 3; do
	run apply "$WORLD/m/idle2"
	[ "$(key_status raxx-idle2 "$K1")" = Inactive ] && [ "$(akid_of idle2)" = "$K1" ] || kept=0
	clock_advance 90000
done
check "idle2: the Inactive key the store holds is kept through 3 x deleteAfter" '[ $kept = 1 ]'
check "idle2: the other (Active) key is neither deactivated nor deleted" '[ "$(key_status raxx-idle2 "$L")" = Active ]'

# ---- the stored secret replaced by a wrong value -----------------------------
new_case wrong raxx-wrong
run apply "$WORLD/m/wrong"
K1=$(akid_of wrong)
inf_ctl POST secrets "{\"projectId\": \"$PROJECT\", \"environment\": \"prod\", \"secretPath\": \"/wrong\", \"secretKey\": \"AWS_SECRET_ACCESS_KEY\", \"secretValue\": \"NotTheSecretOfThisKey0000000000000000000\"}" >/dev/null
plan wrong --detailed-exitcode "$WORLD/m/wrong"
check "wrong: plan exits 2 and says the stored pair does not authenticate" \
	'[ $rc = 2 ] && grep -q "does not authenticate" <<<"$out"'
run apply "$WORLD/m/wrong"
K2=$(akid_of wrong)
check "wrong: apply rotates (exit 0, a new key in the store)" '[ $rc = 0 ] && [ -n "$K2" ] && [ "$K2" != "$K1" ]'
check "wrong: the stored pair authenticates" '[ -z "$(q inv raxx-wrong /wrong)" ]'
check "wrong: the store kept the wrong value as a version (3 versions of the secret)" \
	'[ "$(q versions /wrong AWS_SECRET_ACCESS_KEY)" = 3 ]'
check "wrong: the env file holds the new pair, not the wrong value" \
	'[ "$(env_akid wrong)" = "$K2" ] && ! grep -q NotTheSecretOfThisKey "$WORLD/etc/wrong.env"'
converged wrong "$WORLD/m/wrong"

# ---- half a pair ------------------------------------------------------------
for half in akid secret; do
	n=half$half
	new_case $n raxx-$n
	run apply "$WORLD/m/$n"
	K1=$(akid_of $n)
	if [ $half = akid ]; then drop=AWS_SECRET_ACCESS_KEY want="only the access key id"; else drop=AWS_ACCESS_KEY_ID want="only the secret"; fi
	inf_ctl DELETE secrets "{\"projectId\": \"$PROJECT\", \"environment\": \"prod\", \"secretPath\": \"/$n\", \"secretKey\": \"$drop\"}" >/dev/null
	plan $n --detailed-exitcode "$WORLD/m/$n"
	check "$n: plan exits 2 and says the store holds $want" '[ $rc = 2 ] && grep -q "holds $want" <<<"$out"'
	run apply "$WORLD/m/$n"
	K2=$(akid_of $n)
	check "$n: apply rotates and writes both names" \
		'[ $rc = 0 ] && [ -n "$K2" ] && [ "$K2" != "$K1" ] && [ -n "$(q secret /$n AWS_SECRET_ACCESS_KEY)" ]'
	check "$n: the stored pair authenticates" '[ -z "$(q inv raxx-$n /$n)" ]'
	check "$n: the env file holds the new key" '[ "$(env_akid $n)" = "$K2" ]'
	converged $n "$WORLD/m/$n"
done

no_secret_leaked
finish
