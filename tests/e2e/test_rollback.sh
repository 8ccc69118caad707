#!/usr/bin/env bash
# `rotor rollback NAME` and `rotor resume NAME` (contract §7): after a
# rotation whose predecessor was already deactivated, rollback makes the
# previous key Active again, writes the previous pair to the store as a new
# version, re-propagates it to the env file, deactivates the new key and
# suspends the manifest: plan and apply then do nothing for it (also once a
# rotation and the new key's deletion are due) until `rotor resume NAME`,
# after which rotor manages it again and converges. A rollback whose previous
# key no longer exists fails and changes nothing. Every `rotor plan` is
# checked to change nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
new_case back raxx-back
run apply "$WORLD/m/back"
K1=$(akid_of back)
S1=$(q secret /back AWS_SECRET_ACCESS_KEY)
clock_advance $((31 * 86400))
run apply "$WORLD/m/back"
K2=$(akid_of back)
check "setup: a second rotation stored a new key (store version 2)" \
	'[ $rc = 0 ] && [ -n "$K2" ] && [ "$K2" != "$K1" ] && [ "$(q versions /back AWS_ACCESS_KEY_ID)" = 2 ]'
clock_advance 7200
run apply "$WORLD/m/back"
check "setup: after the grace the previous key is Inactive" '[ "$(key_status raxx-back "$K1")" = Inactive ]'
clock_advance 60

run rollback back "$WORLD/m/back"
check "rollback exits 0" '[ $rc = 0 ]'
check "rollback: the plan's summary says what it does" 'grep -q "^1 manifest: 1 to roll back$" <<<"$out"'
check "rollback prints its plan before applying it" \
	'[ "$(grep -nE "^  ~ rollback-reactivate +$K1" <<<"$out" | cut -d: -f1)" -lt "$(grep -n "done   rollback-reactivate" <<<"$out" | cut -d: -f1)" ]'
check "rollback: the previous key is Active again" '[ "$(key_status raxx-back "$K1")" = Active ]'
check "rollback: the new key is Inactive" '[ "$(key_status raxx-back "$K2")" = Inactive ]'
check "rollback: the store holds the previous pair" \
	'[ "$(akid_of back)" = "$K1" ] && [ "$(q secret /back AWS_SECRET_ACCESS_KEY)" = "$S1" ]'
check "rollback: as a new version (3 versions of each name)" \
	'[ "$(q versions /back AWS_ACCESS_KEY_ID)" = 3 ] && [ "$(q versions /back AWS_SECRET_ACCESS_KEY)" = 3 ]'
check "rollback: the stored pair authenticates, at most 2 keys" '[ -z "$(q inv raxx-back /back)" ]'
check "rollback: the env file holds the previous pair" \
	'[ "$(env_akid back)" = "$K1" ] && grep -qxF "AWS_SECRET_ACCESS_KEY=$S1" "$WORLD/etc/back.env"'
check "rollback: the audit log records it" 'grep -q "\"action\":\"rollback-store\"" "$WORLD/audit.jsonl"'

plan suspended --detailed-exitcode "$WORLD/m/back"
check "suspended: plan exits 0, says Suspended and how to resume" \
	'[ $rc = 0 ] && grep -q "status: Suspended" <<<"$out" && grep -q "rotor resume back" <<<"$out"'
run_nomut suspended apply "$WORLD/m/back"
check "suspended: apply exits 0" '[ $rc = 0 ]'
# Past the new key's deleteAfter and past the cadence: still nothing.
clock_advance $((31 * 86400))
plan "suspended, 31 days on" --detailed-exitcode "$WORLD/m/back"
check "suspended, 31 days on: plan still Suspended with nothing to do" '[ $rc = 0 ] && grep -q "status: Suspended" <<<"$out"'
run_nomut "suspended, 31 days on" apply "$WORLD/m/back"
run_nomut "suspended" rotate back "$WORLD/m/back"
check "suspended: \`rotor rotate\` does not rotate either" '[ "$(akid_of back)" = "$K1" ]'

run resume back "$WORLD/m/back"
check "resume exits 0 and says resumed" '[ $rc = 0 ] && grep -q "back: resumed" <<<"$out"'
run_nomut "resumed again" resume back "$WORLD/m/back"
check "resume of a manifest not suspended says so, not \"resumed\"" \
	'[ $rc = 0 ] && grep -q "not suspended by rotor rollback; nothing was changed" <<<"$out" && ! grep -q "back: resumed" <<<"$out"'
plan resumed --detailed-exitcode "$WORLD/m/back"
check "resumed: plan exits 2 (the rotation and the deletion are due)" '[ $rc = 2 ] && ! grep -q "status: Suspended" <<<"$out"'
run apply "$WORLD/m/back"
K3=$(akid_of back)
check "resumed: apply deletes the rolled-back key and rotates" \
	'[ $rc = 0 ] && [ -z "$(key_status raxx-back "$K2")" ] && [ -n "$K3" ] && [ "$K3" != "$K1" ] && [ "$K3" != "$K2" ]'
check "resumed: the stored pair authenticates, the env file follows" \
	'[ -z "$(q inv raxx-back /back)" ] && [ "$(env_akid back)" = "$K3" ]'
converged resumed "$WORLD/m/back"

# ---- the previous key is gone: rollback refuses -------------------------------
new_case gone raxx-gone
run apply "$WORLD/m/gone"
clock_advance $((31 * 86400))
run apply "$WORLD/m/gone"
clock_advance 7200
run apply "$WORLD/m/gone"
clock_advance 90000
run apply "$WORLD/m/gone"
check "gone: setup: one key left" '[ "$(nkeys raxx-gone)" = 1 ]'
run_nomut gone rollback gone "$WORLD/m/gone"
check "gone: rollback exits 1 and says to roll forward" '[ $rc = 1 ] && grep -q "no longer exists" <<<"$out"'
check "gone: the refusal says nothing changed and how to restore by hand" \
	'grep -q "nothing was changed. To restore by hand, put a working key pair of raxx-gone into the store" <<<"$out"'

# ---- the store's versions out of step: the secret was rewritten by hand --------------
# The secret now has one version more than the key id (a wrong value that a
# heal replaced). The previous pair is K1 with its own secret; whatever
# rollback restores must authenticate (invariant 1), or it must refuse.
new_case skew raxx-skew
run apply "$WORLD/m/skew"
K1=$(akid_of skew)
S1=$(q secret /skew AWS_SECRET_ACCESS_KEY)
inf_ctl POST secrets "{\"projectId\": \"$PROJECT\", \"environment\": \"prod\", \"secretPath\": \"/skew\", \"secretKey\": \"AWS_SECRET_ACCESS_KEY\", \"secretValue\": \"NotTheSecretOfThisKey0000000000000000000\"}" >/dev/null
run apply "$WORLD/m/skew"
K2=$(akid_of skew)
check "skew: setup: the heal rotated" '[ $rc = 0 ] && [ -n "$K2" ] && [ "$K2" != "$K1" ]'
run rollback skew "$WORLD/m/skew"
check "skew: rollback leaves a pair in the store that authenticates" '[ -z "$(q inv raxx-skew /skew)" ]' ||
	echo "#   $(q inv raxx-skew /skew)"
check "skew: rollback either restored the previous key with its own secret or changed nothing" \
	'{ [ "$(akid_of skew)" = "$K1" ] && [ "$(q secret /skew AWS_SECRET_ACCESS_KEY)" = "$S1" ]; } || { [ $rc = 1 ] && [ "$(akid_of skew)" = "$K2" ]; }'
check "skew: the env file never gets the wrong value" '! grep -q NotTheSecretOfThisKey "$WORLD/etc/skew.env"'

# ---- the store's history holds something that is no key id -------------------------
# A hand-written value in the key id's history is refused, never truncated
# into a key id to act on.
new_case junk raxx-junk
run apply "$WORLD/m/junk"
inf_ctl POST secrets "{\"projectId\": \"$PROJECT\", \"environment\": \"prod\", \"secretPath\": \"/junk\", \"secretKey\": \"AWS_ACCESS_KEY_ID\", \"secretValue\": \"AKIA0123456789ABCDEF0123456789ABCDEFGHIJKLMNOP\"}" >/dev/null
run apply "$WORLD/m/junk"
check "junk: setup: the heal rotated over the hand-written value" '[ $rc = 0 ] && [ "$(q versions /junk AWS_ACCESS_KEY_ID)" = 3 ]'
run_nomut junk rollback junk "$WORLD/m/junk"
check "junk: rollback refuses: the previous version holds no access key id" \
	'[ $rc = 1 ] && grep -q "version 2 of AWS_ACCESS_KEY_ID holds no access key id" <<<"$out" && grep -q "nothing was changed" <<<"$out"'

no_secret_leaked
finish
