#!/usr/bin/env bash
# A whole key lifecycle over simulated weeks, with the real rotor binary
# against the IAM/STS and Infisical doubles on one settable clock:
# adoption of a user with one old key → create, validate (through a
# propagation delay), store, propagate → grace → deactivate → window →
# delete → a second rotation at cadence. Checks IAM, the store and the
# consumer directly (through the doubles), never through rotor.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
# Validation must wait out a real 1.5 s propagation delay: real sleeps
# (CTest runs the other scenarios with sleeps in simulated time).
export ROTOR_TEST_SLEEP_SCALE=1
M=$WORLD/manifests
U=raxx-backup

aws_ctl POST users "{\"name\": \"$U\", \"keys\": [{\"created\": \"2025-10-01T00:00:00Z\", \"last_used\": {\"date\": \"2025-12-31T12:00:00Z\", \"service\": \"s3\", \"region\": \"eu-west-1\"}}]}" >/dev/null
OLD=$(iam_keys $U | awk '{print $1}')
aws_ctl POST settings '{"propagation_delay": 1.5}' >/dev/null
write_manifest backup $U 30d 1h 1d

check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

out=$("$ROTOR_BIN" plan --detailed-exitcode "$M" 2>&1); rc=$?
check "plan on adoption exits 2 (changes pending)" '[ $rc = 2 ]'
check "plan says it adopts the user" 'grep -q "adopting $U" <<<"$out"'
check "plan mutated nothing" '[ "$(iam_keys $U)" = "$OLD Active" ] && [ -z "$(store_akid)" ]'

out=$("$ROTOR_BIN" apply "$M" 2>&1); rc=$?
check "apply (adoption) succeeds" '[ $rc = 0 ]' || echo "$out"
NEW=$(store_akid)
check "the store holds a new key" '[ -n "$NEW" ] && [ "$NEW" != "$OLD" ]'
check "IAM has the old and the new key, both Active" \
	'[ "$(iam_keys $U | sort)" = "$(printf "%s Active\n%s Active\n" $NEW $OLD | sort)" ]'
check "the env file holds the new key" 'grep -q "^AWS_ACCESS_KEY_ID=$NEW$" "$WORLD/etc/backup.env"'
check "the env file is mode 600" '[ "$(stat -c %a "$WORLD/etc/backup.env")" = 600 ]'

out=$("$ROTOR_BIN" plan --detailed-exitcode "$M" 2>&1); rc=$?
check "inside the grace: nothing to do (exit 0)" '[ $rc = 0 ]' || echo "$out"
check "plan forecasts the deactivation" 'grep -qE "^ +(next: )?[0-9T:Z-]+ deactivate $OLD" <<<"$out"'

clock_advance 7200
out=$("$ROTOR_BIN" apply "$M" 2>&1)
check "after the grace: the old key is Inactive" '[ "$(iam_keys $U | grep $OLD)" = "$OLD Inactive" ]' || echo "$out"

clock_advance 3600
"$ROTOR_BIN" apply "$M" >/dev/null 2>&1
check "inside deleteAfter: the old key is kept" '[ -n "$(iam_keys $U | grep $OLD)" ]'

clock_advance 90000
"$ROTOR_BIN" apply "$M" >/dev/null 2>&1
check "after deleteAfter: the old key is deleted" '[ "$(iam_keys $U)" = "$NEW Active" ]'

out=$("$ROTOR_BIN" plan --detailed-exitcode "$M" 2>&1); rc=$?
check "converged: plan exits 0 and reports Ready" '[ $rc = 0 ] && grep -q "status: Ready" <<<"$out"' || echo "$out"

clock_advance $((30 * 86400))
out=$("$ROTOR_BIN" plan --detailed-exitcode "$M" 2>&1); rc=$?
check "at cadence: a rotation is due" '[ $rc = 2 ] && grep -q "cadence 30d" <<<"$out"'
"$ROTOR_BIN" apply "$M" >/dev/null 2>&1
NEW2=$(store_akid)
check "second rotation: a third key is in the store" '[ -n "$NEW2" ] && [ "$NEW2" != "$NEW" ]'
check "second rotation: the env file follows" 'grep -q "^AWS_ACCESS_KEY_ID=$NEW2$" "$WORLD/etc/backup.env"'

# Drift: a hand edit of the consumer is rewritten on the next pass.
sed -i "s/^AWS_ACCESS_KEY_ID=.*/AWS_ACCESS_KEY_ID=AKIAEDITEDBYHAND0000/" "$WORLD/etc/backup.env"
out=$("$ROTOR_BIN" plan "$M" 2>&1)
check "plan reports the drifted consumer" 'grep -q "propagate" <<<"$out"'
"$ROTOR_BIN" apply "$M" >/dev/null 2>&1
check "apply rewrites the drifted consumer" 'grep -q "^AWS_ACCESS_KEY_ID=$NEW2$" "$WORLD/etc/backup.env"'

# The audit log: one JSON line per mutation, no secret.
check "the audit log has create, store and delete records" \
	'grep -q "\"action\":\"create\"" "$WORLD/audit.jsonl" && grep -q "\"action\":\"store\"" "$WORLD/audit.jsonl" && grep -q "\"action\":\"delete\"" "$WORLD/audit.jsonl"'
secrets=$(aws_ctl GET state | "$ROTOR_PYTHON" -c '
import json, sys
for u in json.load(sys.stdin)["users"]:
    for k in u["keys"]:
        print(k["secret_access_key"])')
leak=0
for s in $secrets; do grep -qF "$s" "$WORLD/audit.jsonl" && leak=1; done
check "no secret in the audit log" '[ $leak = 0 ]'
finish
