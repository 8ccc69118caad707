#!/usr/bin/env bash
# Two rotor processes at once (issue 15, item 3): one mutator per user, and
# a re-check before every step that cannot be undone.
#  - `rotor apply` racing `rotor apply` with a rotation due, many times:
#    exactly one rotation (one new store version), never LimitExceeded,
#    the stored key always Active, both exit 0 (the second waits for the
#    user's lock, then finds nothing to do).
#  - `rotor apply` (about to deactivate the predecessor) racing `rotor
#    rollback` (about to make it the stored key again), many times: never
#    both keys Inactive, the stored pair always authenticates.
#  - a held lock: the waiter gives up after --lock-wait, naming the holder.
#  - another machine's fresh intent record blocks CreateAccessKey; it
#    expires after 15 minutes.
#  - the store changed between observation and deactivation (another party
#    rotated): nothing is deactivated, the pass says so.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
ROUNDS=${RACE_ROUNDS:-4}

# bg NAME ARGS...: rotor ARGS in the background, output to $WORLD/NAME.out;
# bg_wait waits for those alone (a bare `wait` would wait for the doubles).
BG=()
bg() {
	local name=$1
	shift
	("$ROTOR_BIN" "$@" >"$WORLD/$name.out" 2>&1; echo $? >"$WORLD/$name.rc") &
	BG+=($!)
}
bg_wait() {
	wait "${BG[@]}"
	BG=()
}
race_ok() { # LABEL USER FOLDER
	local user=$2 folder=$3
	check "$1: the stored pair authenticates, its key Active, at most 2 keys" \
		'[ -n "$(q secret "$folder" AWS_ACCESS_KEY_ID)" ] && [ -z "$(q inv "$user" "$folder")" ]'
	check "$1: LimitExceeded never hit" '[ "$(q limit_exceeded)" = 0 ]'
}

# ---- apply racing apply -------------------------------------------------------------
new_case twin raxx-twin
run apply "$WORLD/m/twin"
check "twin: adopted" '[ $rc = 0 ] && [ -n "$(akid_of twin)" ]'
for r in $(seq 1 "$ROUNDS"); do
	v0=$(q versions /twin AWS_ACCESS_KEY_ID)
	clock_advance $((31 * 86400)) # rotation due
	bg a1 apply "$WORLD/m/twin"
	bg a2 apply "$WORLD/m/twin"
	bg_wait
	out=$(cat "$WORLD/a1.out" "$WORLD/a2.out")
	printf '+ race %s\n%s\n' "$r" "$out" >>"$LOG"
	q secrets >>"$WORLD/secrets.seen"
	check "apply+apply round $r: both exit 0" '[ "$(cat "$WORLD/a1.rc")" = 0 ] && [ "$(cat "$WORLD/a2.rc")" = 0 ]'
	check "apply+apply round $r: exactly one rotation" '[ "$(q versions /twin AWS_ACCESS_KEY_ID)" = $((v0 + 1)) ]'
	race_ok "apply+apply round $r" raxx-twin /twin
	# wind down: deactivate, then delete the predecessor
	clock_advance 7200
	run apply "$WORLD/m/twin"
	clock_advance $((86400 + 60))
	run apply "$WORLD/m/twin"
	check "apply+apply round $r: one key left after the windows" '[ "$(nkeys raxx-twin)" = 1 ]'
done

# ---- apply racing rollback -----------------------------------------------------------
for r in $(seq 1 "$ROUNDS"); do
	n=back$r
	new_case $n raxx-$n
	run apply "$WORLD/m/$n"
	K1=$(akid_of $n)
	clock_advance $((31 * 86400))
	run apply "$WORLD/m/$n"
	K2=$(akid_of $n)
	clock_advance 7200 # past deactivateAfter: apply now deactivates K1
	bg ap apply "$WORLD/m/$n"
	bg rb rollback $n "$WORLD/m/$n"
	bg_wait
	out=$(cat "$WORLD/ap.out" "$WORLD/rb.out")
	printf '+ race rollback %s\n%s\n' "$r" "$out" >>"$LOG"
	q secrets >>"$WORLD/secrets.seen"
	check "apply+rollback round $r: not both keys Inactive" \
		'[ "$(key_status raxx-$n "$K1")" = Active ] || [ "$(key_status raxx-$n "$K2")" = Active ]'
	check "apply+rollback round $r: both exit 0" '[ "$(cat "$WORLD/ap.rc")" = 0 ] && [ "$(cat "$WORLD/rb.rc")" = 0 ]'
	check "apply+rollback round $r: rolled back to $K1" '[ "$(akid_of $n)" = "$K1" ] && [ "$(key_status raxx-$n "$K1")" = Active ]'
	race_ok "apply+rollback round $r" raxx-$n /$n
done

# ---- a held lock ----------------------------------------------------------------------
new_case slow raxx-slow
run apply "$WORLD/m/slow"
aws_ctl POST faults '{"rules": [{"match": "GetUser", "kind": "latency", "latency_ms": 4000, "count": 1}]}' >/dev/null
bg holder apply "$WORLD/m/slow"
sleep 1
run apply --lock-wait 1s "$WORLD/m/slow"
check "held lock: the waiter exits 1 after --lock-wait" '[ $rc = 1 ]'
check "held lock: it names the holder's pid and command" \
	'grep -q "raxx-slow on connection aws-test is being changed by another rotor process (pid [0-9]*, \`rotor apply\`" <<<"$out"'
bg_wait
aws_ctl DELETE faults >/dev/null
check "held lock: the holder finished normally" '[ "$(cat "$WORLD/holder.rc")" = 0 ]'
run apply --lock-wait 5x "$WORLD/m/slow"
check "--lock-wait with a bad duration is a usage error" '[ $rc = 2 ]'

# ---- another machine's intent ----------------------------------------------------------
new_case far raxx-far
run apply "$WORLD/m/far"
clock_advance $((31 * 86400))
aws_ctl POST tags "{\"user\": \"raxx-far\", \"tags\": {\"rotor-intent\": \"v1 m=far at=$(clock_now) h=ci-runner-7:4242\"}}" >/dev/null
n0=$(nkeys raxx-far)
run apply "$WORLD/m/far"
check "foreign intent: apply exits 1 and names the other rotor" '[ $rc = 1 ] && grep -q "another rotor (ci-runner-7:4242" <<<"$out"'
check "foreign intent: no key was created" '[ "$(nkeys raxx-far)" = "$n0" ]'
# A live rotor on this very host (say with another state directory, so
# another lock file): its fresh intent blocks too; only a dead one's is stale.
aws_ctl POST tags "{\"user\": \"raxx-far\", \"tags\": {\"rotor-intent\": \"v1 m=far at=$(clock_now) h=$(hostname | cut -d' ' -f1):$$\"}}" >/dev/null
run apply "$WORLD/m/far"
check "this host's live intent: apply exits 1 and creates nothing" \
	'[ $rc = 1 ] && grep -q "another rotor ($(hostname | cut -d" " -f1):$$" <<<"$out" && [ "$(nkeys raxx-far)" = "$n0" ]'
sleep 60 &
dead=$!
kill -9 $dead; wait $dead 2>/dev/null
aws_ctl POST tags "{\"user\": \"raxx-far\", \"tags\": {\"rotor-intent\": \"v1 m=far at=$(clock_now) h=$(hostname | cut -d' ' -f1):$dead\"}}" >/dev/null
run apply "$WORLD/m/far"
check "this host's dead rotor's intent is stale: the rotation goes ahead" \
	'[ $rc = 0 ] && [ "$(q versions /far AWS_ACCESS_KEY_ID)" = 2 ]'
race_ok "foreign intent" raxx-far /far
# Another machine's intent expires after 15 minutes.
new_case far2 raxx-far2
run apply "$WORLD/m/far2"
clock_advance $((31 * 86400))
aws_ctl POST tags "{\"user\": \"raxx-far2\", \"tags\": {\"rotor-intent\": \"v1 m=far2 at=$(clock_now) h=ci-runner-7:4242\"}}" >/dev/null
clock_advance 960 # 16 minutes: the intent is stale
run apply "$WORLD/m/far2"
check "foreign intent, 16 minutes on: the rotation goes ahead" '[ $rc = 0 ] && [ "$(q versions /far2 AWS_ACCESS_KEY_ID)" = 2 ]'
race_ok "stale foreign intent" raxx-far2 /far2

# ---- the store changes between observation and deactivation ----------------------------
new_case moved raxx-moved
run apply "$WORLD/m/moved"
clock_advance $((31 * 86400))
run apply "$WORLD/m/moved"
K2=$(akid_of moved)
K1=$(q keys raxx-moved | awk -v k="$K2" '$1 != k {print $1}')
clock_advance 7200
# The re-check's ListAccessKeys (the pass's second) is slowed; meanwhile
# "someone" writes K1 back into the store: deactivating K1 would now break it.
aws_ctl POST faults '{"rules": [{"match": "ListAccessKeys", "kind": "latency", "latency_ms": 3000, "after": 1, "count": 1}]}' >/dev/null
bg mv apply "$WORLD/m/moved"
sleep 1.5
inf_ctl POST secrets "{\"projectId\": \"$PROJECT\", \"environment\": \"prod\", \"secretPath\": \"/moved\", \"secretKey\": \"AWS_ACCESS_KEY_ID\", \"secretValue\": \"$K1\"}" >/dev/null
bg_wait
aws_ctl DELETE faults >/dev/null
out=$(cat "$WORLD/mv.out")
printf '+ moved\n%s\n' "$out" >>"$LOG"
check "store changed mid-pass: apply exits 1, saying it changed and nothing was done" \
	'[ "$(cat "$WORLD/mv.rc")" = 1 ] && grep -q "changed since this pass observed it" <<<"$out"'
check "store changed mid-pass: $K1 (now stored) is still Active" '[ "$(key_status raxx-moved "$K1")" = Active ]'

no_secret_leaked
finish
