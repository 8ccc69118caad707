#!/usr/bin/env bash
# A concurrent pass (issue 17, item 2): `rotor apply --parallel 8` over many
# manifests at once, with IAM failing mid-pass for some of them.
#  - every manifest is handled, whatever happens to the others: the ones
#    whose CreateAccessKey failed exit the pass 1 and keep their invariants,
#    the others rotate;
#  - the output is in manifest-name order, whatever the completion order;
#  - with the fault cleared, the next parallel pass converges every user;
#  - `rotor plan --parallel 8` prints exactly what `--parallel 1` prints.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
source "$(dirname "$0")/faultcases.sh"

N=12
ALL=$WORLD/m/all
mkdir -p "$ALL"
for i in $(seq -w 1 $N); do
	new_case "p$i" "raxx-p$i" '[{"created": "2025-10-01T00:00:00Z"}]'
	mv "$WORLD/m/p$i/p$i.yaml" "$ALL/"
done

# IAM fails every CreateAccessKey after the fourth (HTTP 500, every retry).
aws_ctl POST faults '{"rules": [{"match": "CreateAccessKey", "kind": "error500", "after": 4, "count": -1}]}' >/dev/null
# windows of 5 manifests (12 = 5 + 5 + 2): planned, printed, applied, released in turn
export ROTOR_TEST_WINDOW=5
run apply --parallel 8 "$ALL"
unset ROTOR_TEST_WINDOW
check "faulted: apply exits 1" '[ $rc = 1 ]'
check "faulted: every manifest was handled, in name order" \
	'[ "$(grep -o "^applying p[0-9]*" <<<"$out" | tr "\n" " ")" = "$(for i in $(seq -w 1 $N); do printf "applying p%s " $i; done)" ]'
rotated=0 nfail=0 bad=""
for i in $(seq -w 1 $N); do
	b=$(q inv "raxx-p$i" "/p$i")
	[ -n "$b" ] && bad="$bad p$i: $b;"
	if [ -n "$(akid_of "p$i")" ]; then rotated=$((rotated + 1)); else nfail=$((nfail + 1)); fi
done
check "faulted: 4 manifests rotated, the other 8 failed cleanly (nothing stored)" '[ $rotated = 4 ] && [ $nfail = 8 ]' ||
	echo "#   rotated $rotated, failed $nfail"
check "faulted: every user's invariants hold; never LimitExceeded" '[ -z "$bad" ] && [ "$(q limit_exceeded)" = 0 ]' ||
	echo "#   $bad"
check "faulted: the failures name the call and the code" \
	'[ "$(grep -c "error: .*CreateAccessKey.*ServiceFailure" <<<"$out")" = 8 ]'

clear_faults
# IAM throttles mid-pass (2 replies of Throttling: Rate exceeded, while 8
# workers are at it; fewer than the 3 attempts a call gets, so whichever
# calls they hit, each is retried with back-off and succeeds): the
# account's bucket slows for every worker, and the pass completes.
aws_ctl POST faults '{"rules": [{"match": "GetUser", "kind": "throttle", "after": 3, "count": 2}]}' >/dev/null
run apply --parallel 8 "$ALL"
check "cleared, throttled mid-pass: apply --parallel 8 exits 0" '[ $rc = 0 ]'
check "throttled: both Throttling replies were seen and retried" \
	'[ "$(aws_ctl GET faults | "$ROTOR_PYTHON" -c "import json,sys; print(json.load(sys.stdin)[\"rules\"][0][\"applied\"])")" = 2 ]'
clear_faults
bad=""
for i in $(seq -w 1 $N); do
	b=$(q inv "raxx-p$i" "/p$i")
	[ -n "$b" ] || [ -z "$(akid_of "p$i")" ] && bad="$bad p$i: ${b:-nothing stored};"
	[ "$(env_akid "p$i")" = "$(akid_of "p$i")" ] || bad="$bad p$i: env file;"
done
check "cleared: every user has a stored pair that authenticates, its env file follows" '[ -z "$bad" ]' ||
	echo "#   $bad"

clock_advance 3700
run apply --parallel 8 "$ALL"
check "after the grace: every predecessor deactivated in one parallel pass" \
	'[ $rc = 0 ] && [ "$(grep -c "done   deactivate" <<<"$out")" = $N ]'
plan "plan, parallel 1" --parallel 1 "$ALL"
one=$out
plan "plan, parallel 8" --parallel 8 "$ALL"
check "plan --parallel 8 prints exactly what --parallel 1 prints" '[ "$out" = "$one" ]'
ROTOR_TEST_WINDOW=5 plan "plan, windows of 5" --parallel 8 "$ALL"
check "planned in windows of 5 manifests, the text is the same" '[ "$out" = "$one" ]'
converged all "$ALL"

# Calls per user in a steady state (issue 17, item 4): GetUser (with the
# tags), ListAccessKeys, GetAccessKeyLastUsed per key, no ListUserTags, one
# STS check of the stored pair; and one recursive store list for the 12.
read -r AS IS <<<"$(q seq)"
run plan --parallel 8 "$ALL"
calls=$(q calls "$AS" "$IS")
count() { grep -c "^$1\$" <<<"$calls"; }
check "steady state: 12 GetUser, 12 ListAccessKeys, 24 GetAccessKeyLastUsed (2 keys each), no ListUserTags, 12 GetCallerIdentity" \
	'[ "$(count "IAM GetUser")" = 12 ] && [ "$(count "IAM ListAccessKeys")" = 12 ] && [ "$(count "IAM GetAccessKeyLastUsed")" = 24 ] && [ "$(count "IAM ListUserTags")" = 0 ] && [ "$(count "IAM GetCallerIdentity")" = 12 ]' ||
	sort <<<"$calls" | uniq -c | sed 's/^/#   /'
check "steady state: the store is read with one recursive list for the 12 manifests" \
	'[ "$(count "Infisical list")" = 1 ]' || sort <<<"$calls" | uniq -c | sed 's/^/#   /'
# A 2024 server strips `recursive`: rotor notices and reads folder by folder.
inf_ctl POST settings '{"preset": "server-2024"}' >/dev/null
read -r AS IS <<<"$(q seq)"
plan "2024 server" --parallel 8 "$ALL"
calls=$(q calls "$AS" "$IS")
check "2024 server: one ignored recursive list, then one list per folder; the plan is the same" \
	'[ "$(count "Infisical list")" = 13 ] && [ "$out" = "$one" ]' || sort <<<"$calls" | uniq -c | sed 's/^/#   /'
inf_ctl POST settings '{"preset": "current"}' >/dev/null
# --max-deletions across windows: the budget goes in manifest order, not in
# the order workers finish.
clock_advance 90000
ROTOR_TEST_WINDOW=4 run apply --parallel 8 --max-deletions 5 "$ALL"
one_key=""
for i in $(seq -w 1 $N); do [ "$(nkeys "raxx-p$i")" = 1 ] && one_key="$one_key p$i"; done
check "--max-deletions 5 in windows of 4: exactly p01..p05 lost their old key" \
	'[ $rc = 0 ] && [ "$one_key" = " p01 p02 p03 p04 p05" ]' || echo "#   deleted:$one_key"

run plan --parallel 0 "$ALL"
check "--parallel 0 is a usage error naming the range" '[ $rc = 2 ] && grep -q "from 1 to 64" <<<"$out"'

no_secret_leaked
finish
