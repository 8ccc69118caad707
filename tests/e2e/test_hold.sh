#!/usr/bin/env bash
# The deactivation hold (contract §4 step 6): after a rotation, the
# predecessor is deactivated only if IAM shows no use of it after the moment
# every consumer held the new key.
#   - used after that moment (POST /_control/use): once the grace is over the
#     plan is Stalled, "a consumer was missed", naming the service, region
#     and time of the use; apply leaves the key Active (also days later) and
#     mutates nothing;
#   - the operator then deactivates it by hand, as the message says: rotor
#     deletes it after deleteAfter;
#   - control: a predecessor last used before that moment is deactivated
#     after the grace.
# Every `rotor plan` is checked to change nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
# ---- used after the consumers switched -------------------------------------------
new_case missed raxx-missed '[{"created": "2025-10-01T00:00:00Z", "last_used": {"date": "2025-12-31T12:00:00Z", "service": "s3", "region": "eu-west-1"}}]'
OLD=$(q keys raxx-missed | awk '{print $1}')
run apply "$WORLD/m/missed"
NEW=$(akid_of missed)
check "missed: the rotation ran; both keys Active" \
	'[ $rc = 0 ] && [ -n "$NEW" ] && [ "$(key_status raxx-missed "$OLD")" = Active ] && [ "$(key_status raxx-missed "$NEW")" = Active ]'
clock_advance 600
aws_ctl POST use "{\"access_key_id\": \"$OLD\", \"service\": \"dynamodb\", \"region\": \"ap-southeast-2\"}" >/dev/null
plan missed "$WORLD/m/missed"
check "missed: inside the grace the plan waits (nothing to do yet)" '! grep -qE "^  [-+~#?] " <<<"$out"'
clock_advance 3600
plan missed --detailed-exitcode "$WORLD/m/missed"
check "missed: after the grace the plan is Stalled: a consumer was missed" \
	'grep -q "status: Stalled" <<<"$out" && grep -q "a consumer was missed" <<<"$out"'
check "missed: the message names the key, the service, the region and the time of the use" \
	'grep "status: Stalled" <<<"$out" | grep -q "$OLD" && grep "status: Stalled" <<<"$out" | grep -q "by dynamodb in ap-southeast-2" && grep "status: Stalled" <<<"$out" | grep -q "2026-01-01T00:10:00Z"'
check "missed: the plan has no deactivate action" '! grep -qE "^  ~ deactivate +$OLD" <<<"$out"'
run_nomut missed apply "$WORLD/m/missed"
check "missed: after apply the predecessor is still Active" '[ "$(key_status raxx-missed "$OLD")" = Active ]'
clock_advance $((3 * 86400))
run_nomut "missed, 3 days later" apply "$WORLD/m/missed"
check "missed: 3 days later it is still Active and the store holds the new key" \
	'[ "$(key_status raxx-missed "$OLD")" = Active ] && [ "$(akid_of missed)" = "$NEW" ] && [ -z "$(q inv raxx-missed /missed)" ]'

# The operator finds the consumer and deactivates the key by hand.
iam_call UpdateAccessKey UserName=raxx-missed AccessKeyId="$OLD" Status=Inactive
plan missed "$WORLD/m/missed"
check "missed, deactivated by hand: no longer Stalled" '! grep -q "status: Stalled" <<<"$out"'
run apply "$WORLD/m/missed"
check "missed, deactivated by hand: apply keeps it inside deleteAfter" '[ $rc = 0 ] && [ "$(key_status raxx-missed "$OLD")" = Inactive ]'
clock_advance 90000
run apply "$WORLD/m/missed"
check "missed, deactivated by hand: deleted after deleteAfter" '[ $rc = 0 ] && [ "$(q keys raxx-missed)" = "$NEW Active" ]'
converged missed "$WORLD/m/missed"

# ---- control: last used before the consumers switched ------------------------------
new_case quiet raxx-quiet '[{"created": "2025-10-01T00:00:00Z", "last_used": {"date": "2025-12-31T12:00:00Z", "service": "s3", "region": "eu-west-1"}}]'
OLD=$(q keys raxx-quiet | awk '{print $1}')
run apply "$WORLD/m/quiet"
aws_ctl POST use "{\"access_key_id\": \"$OLD\", \"service\": \"s3\", \"region\": \"eu-west-1\", \"date\": \"$(clock_now)\"}" >/dev/null
clock_advance 3700
plan quiet "$WORLD/m/quiet"
check "quiet: after the grace the plan deactivates the unused predecessor" 'grep -qE "^  ~ deactivate +$OLD" <<<"$out"'
run apply "$WORLD/m/quiet"
check "quiet: apply deactivates it" '[ $rc = 0 ] && [ "$(key_status raxx-quiet "$OLD")" = Inactive ]'

no_secret_leaked
finish
