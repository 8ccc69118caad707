#!/usr/bin/env bash
# Guards (contract §5a, §7):
#   - `--max-deletions 0` holds a due deletion (an Inactive predecessor past
#     deleteAfter, and a never-used stray): the plan says it is held by
#     --max-deletions, apply deletes nothing; without the flag apply deletes;
#     a value that is not a count is a usage error (exit 2) for plan and
#     apply alike;
#   - an IAM user that does not exist: plan and apply exit 1 with a message
#     naming the user, NoSuchEntity and the request id, and change nothing.
# Every `rotor plan` is checked to change nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
# ---- --max-deletions 0 --------------------------------------------------------
new_case cap raxx-cap '[{"created": "2025-10-01T00:00:00Z"}]'
OLD=$(q keys raxx-cap | awk '{print $1}')
run apply "$WORLD/m/cap"
NEW=$(akid_of cap)
clock_advance 7200
run apply "$WORLD/m/cap"
check "cap: setup: the old key is Inactive" '[ "$(key_status raxx-cap "$OLD")" = Inactive ]'
clock_advance 90000
plan cap "$WORLD/m/cap"
check "cap: without the flag the plan deletes the old key" 'grep -qE "^  - delete +$OLD" <<<"$out"'
plan "cap, --max-deletions 0" --max-deletions 0 "$WORLD/m/cap"
check "cap: with --max-deletions 0 the plan has no delete" '! grep -qE "^  - delete" <<<"$out"'
check "cap: and says the deletion is held by --max-deletions" 'grep -q "held by --max-deletions" <<<"$out"'
run_nomut "cap, --max-deletions 0" apply --max-deletions 0 "$WORLD/m/cap"
check "cap: apply --max-deletions 0 exits 0, says so, and keeps the old key" \
	'[ $rc = 0 ] && grep -q "held by --max-deletions" <<<"$out" && [ "$(key_status raxx-cap "$OLD")" = Inactive ]'
run apply "$WORLD/m/cap"
check "cap: apply without the flag deletes it" '[ $rc = 0 ] && [ "$(q keys raxx-cap)" = "$NEW Active" ]'

# A never-used stray is a deletion too.
clock_advance 60
S=$(new_key raxx-cap)
plan "cap, stray" --max-deletions 0 "$WORLD/m/cap"
check "cap: a stray's deletion is held as well, and the plan says so" \
	'! grep -qE "^  - delete-stray" <<<"$out" && grep -q "held by --max-deletions" <<<"$out"'
run_nomut "cap, stray" apply --max-deletions 0 "$WORLD/m/cap"
check "cap: the stray is still there" '[ "$(key_status raxx-cap "$S")" = Active ]'
run apply --max-deletions 1 "$WORLD/m/cap"
check "cap: --max-deletions 1 lets it go" '[ $rc = 0 ] && [ -z "$(key_status raxx-cap "$S")" ]'

# Values that are not a count of deletions.
for v in -1 abc 2x; do
	run_nomut "--max-deletions $v" apply --max-deletions "$v" "$WORLD/m/cap"
	check "apply --max-deletions $v is a usage error (exit 2)" '[ $rc = 2 ]'
	run plan --max-deletions "$v" "$WORLD/m/cap"
	check "plan --max-deletions $v is a usage error (exit 2)" '[ $rc = 2 ]'
done

# ---- an IAM user that does not exist -----------------------------------------------
new_case ghost raxx-ghost
mkdir -p "$WORLD/m/nobody"
sed 's/^  user: raxx-ghost$/  user: raxx-nobody/; s/^  name: ghost$/  name: nobody/; s#secretPath: /ghost#secretPath: /nobody#; s#/ghost.env#/nobody.env#' "$WORLD/m/ghost/ghost.yaml" >"$WORLD/m/nobody/nobody.yaml"
plan nobody --detailed-exitcode "$WORLD/m/nobody"
check "nobody: plan --detailed-exitcode exits 1" '[ $rc = 1 ]'
check "nobody: plan names the user and NoSuchEntity" 'grep -q "raxx-nobody" <<<"$out" && grep -q "NoSuchEntity" <<<"$out"'
run_nomut nobody apply "$WORLD/m/nobody"
check "nobody: apply exits 1" '[ $rc = 1 ]'
check "nobody: apply names the user, NoSuchEntity and the request id" \
	'grep -q "raxx-nobody" <<<"$out" && grep -q "NoSuchEntity" <<<"$out" && grep -qE "request [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}" <<<"$out"'
# Beside a healthy manifest: the healthy one is still applied, the pass still fails.
mkdir -p "$WORLD/both"
cp "$WORLD/m/nobody/nobody.yaml" "$WORLD/m/ghost/ghost.yaml" "$WORLD/both/"
run apply "$WORLD/both"
check "nobody beside ghost: ghost is adopted all the same" '[ -n "$(akid_of ghost)" ] && [ -z "$(q inv raxx-ghost /ghost)" ]'
check "nobody beside ghost: the pass exits 1" '[ $rc = 1 ]'

no_secret_leaked
finish
