# faultcases.sh: what the test_faults_*.sh scripts share, sourced after
# scenario.sh: set-ups that make the next pass need a given call, fault
# injection on either double, and faulted_pass, which checks that a pass
# under a persistent fault fails cleanly (exit 1, the call and the remote
# code named, invariants intact) and that the next pass converges.
# ---- fault cases --------------------------------------------------------------
# Setups: each puts a fresh case NAME (user raxx-NAME, folder /NAME) in a state
# where the next pass needs the call under test.
due_rotation() { # the store holds a key and a rotation is due (spec.rotateRequestedAt)
	new_case "$1" "raxx-$1"
	run apply "$WORLD/m/$1"
	clock_advance 60
	sed -i "s/^  deleteAfter: 1d$/  deleteAfter: 1d\n  rotateRequestedAt: \"$(clock_now)\"/" "$WORLD/m/$1/$1.yaml"
	clock_advance 60
}
due_adoption() { # the store is empty, the user has one old key
	new_case "$1" "raxx-$1" '[{"created": "2025-10-01T00:00:00Z"}]'
}
due_deactivation() { # after a rotation and its grace: the predecessor is to be deactivated
	new_case "$1" "raxx-$1" '[{"created": "2025-10-01T00:00:00Z"}]'
	run apply "$WORLD/m/$1"
	clock_advance 3700
}
due_deletion() { # the Inactive predecessor's deleteAfter is over
	due_deactivation "$1"
	run apply "$WORLD/m/$1"
	clock_advance 90000
}
# Infisical throttling through the double's own rate limiter (429
# RateLimitExceeded with Retry-After: 1): the canned "throttle" fault asks for
# Retry-After: 60, which rotor honours three times (3 minutes a pass). The
# window of SETTING (secret_reads_per_minute, secret_writes_per_minute,
# logins_per_minute) is filled by one unauthenticated request (limits apply
# before authentication), then the clock moves to the window's last second.
inf_throttle() { # SETTING METHOD PATH
	inf_ctl POST settings "{\"$1\": 1}" >/dev/null
	curl -sS -o /dev/null -X "$2" -H 'Content-Type: application/json' --data '{}' "$INF_URL$3"
	clock_advance 59
}
clear_faults() {
	aws_ctl DELETE faults >/dev/null
	inf_ctl DELETE faults >/dev/null
	inf_ctl POST settings '{"secret_reads_per_minute": null, "secret_writes_per_minute": null, "logins_per_minute": null}' >/dev/null
}
# faulted_pass LABEL NAME CALL CODE: with the fault installed, apply fails
# with an error naming CALL and CODE and the invariants hold; with the fault
# cleared the next apply succeeds and converges.
faulted_pass() {
	local label=$1 name=$2 call=$3 code=$4 user=raxx-$2 stored bad
	stored=$(akid_of "$name")
	run apply "$WORLD/m/$name"
	check "$label: apply exits 1" '[ $rc = 1 ]'
	check "$label: the error names ${call%(} and $code" 'grep -qF -- "$call" <<<"$out" && grep -qF -- "$code" <<<"$out"'
	bad=$(q inv "$user" "/$name")
	check "$label: invariants hold (stored pair authenticates, its key Active; <= 2 keys; no LimitExceeded)" \
		'[ -z "$bad" ] && [ "$(q limit_exceeded)" = 0 ] && { [ -z "$stored" ] || [ "$(akid_of "$name")" = "$stored" ]; }' ||
		echo "#   $bad"
	clear_faults
	run apply "$WORLD/m/$name"
	check "$label: with the fault cleared the next apply succeeds" '[ $rc = 0 ]'
	converged "$label" "$WORLD/m/$name"
	check "$label: no rotor record is left for a key that no longer exists" '[ -z "$(q stale "$user")" ]' ||
		q stale "$user" | sed 's/^/#   /'
	check "$label: the stored pair authenticates at the end" '[ -z "$(q inv "$user" "/$name")" ] && [ -n "$(akid_of "$name")" ]'
}
aws_fault() { # ACTION KIND
	aws_ctl POST faults "{\"rules\": [{\"match\": \"$1\", \"kind\": \"$2\", \"count\": -1}]}" >/dev/null
}
inf_fault() { # ROUTE KIND
	inf_ctl POST faults "{\"rules\": [{\"match\": \"$1\", \"kind\": \"$2\", \"count\": -1}]}" >/dev/null
}
# ------------------------------------------------------------------------------
