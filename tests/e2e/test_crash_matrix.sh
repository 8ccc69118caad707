#!/usr/bin/env bash
# The crash matrix (contract §6, invariant 6): rotor is killed (-9) at every
# mutating call of the key lifecycle, and at the validation of the new key,
# then restarted; the invariants must hold at every observation and the user
# must converge within two passes of the restart.
#
# Kill points (the pass each belongs to):
#   adopt   GetCallerIdentity (validate), Infisical batch_create
#   rotate  TagUser (intent), CreateAccessKey, TagUser (new key's record),
#           GetCallerIdentity (validate), Infisical batch_update, TagUser
#           (record with the store version), UntagUser (intent), the env-file
#           write (killed, through gdb, after the temp file is written and
#           before it is renamed over the consumer's file; and killed while
#           the consumer's reload runs: the file is replaced, nothing after it
#           is done), TagUser (sync record)
#   deact   UpdateAccessKey Inactive, TagUser (inactive record)
#   delete  DeleteAccessKey, UntagUser (the deleted key's record)
# Variants: "in flight" (the call is held unprocessed, rotor is killed),
# "answered" (the double commits the call and drops the reply; rotor is
# killed at its retry, before anything else), and "reply dropped" (the same
# dropped reply, rotor not killed: its own retry must be safe).
#
# After the kill: check the invariants; `rotor apply` at most twice, checking
# after each, until converged (the store's pair authenticates, the env file
# holds it, at most two keys, no stray key); then past deactivateAfter +
# deleteAfter two more passes must leave exactly one Active key, the store's,
# and no record tag of a deleted key.
#
#   test_crash_matrix.sh [adopt|rotate|deact|delete]...   (default: all four)
#
# CTest runs one phase per test (e2e/crash_matrix_PHASE), so that -j2
# spreads them. A phase's set-up passes run once: the world they reach is
# snapshotted (crash_snapshot) and restored before each of its cases.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
source "$(dirname "$0")/crashlib.sh"
PHASES=("$@")
[ ${#PHASES[@]} -gt 0 ] || PHASES=(adopt rotate deact delete)
for phase in "${PHASES[@]}"; do
	case $phase in
	adopt | rotate | deact | delete) ;;
	*)
		echo "test_crash_matrix.sh: no phase $phase (adopt, rotate, deact or delete)" >&2
		exit 2
		;;
	esac
done
crash_world_start 2026-03-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000 ROTOR_LOG_LEVEL=info
M=$WORLD/manifests
N=svc
U=raxx-svc
ENVF=$WORLD/etc/$N.env
DELETE_AFTER=86400
T0=2026-03-01T00:00:00Z
crash_manifest $N $U 30d 1h 1d
START=$SECONDS

# Brings the world to just before the pass that holds the kill point.
setup() { # PHASE
	crash_reset || return 1
	clock_set $T0
	if [ "$1" = adopt ]; then
		crash_seed_user $U 2026-01-01T00:00:00Z 2026-02-28T12:00:00Z
		crash_check $U "$ENVF" $DELETE_AFTER >/dev/null
		return 0
	fi
	crash_seed_user $U 2026-02-01T00:00:00Z 2026-02-28T12:00:00Z
	crash_seed_store "$(iam_keys $U | awk '{print $1}')"
	crash_rotor setup-sync apply "$M" || return 1 # writes the consumer, records sync
	crash_check $U "$ENVF" $DELETE_AFTER >/dev/null || return 1
	clock_advance $((3 * 86400)) # the key is now 31 days old: rotation due
	[ "$1" = rotate ] && return 0
	crash_rotor setup-rotate apply "$M" || return 1
	crash_check $U "$ENVF" $DELETE_AFTER >/dev/null || return 1
	clock_advance 3601 # past deactivateAfter
	[ "$1" = deact ] && return 0
	crash_rotor setup-deactivate apply "$M" || return 1
	crash_check $U "$ENVF" $DELETE_AFTER >/dev/null || return 1
	clock_advance 86401 # past deleteAfter
}

# One kill point, one variant: prints one result line (plus its problems).
run_case() { # PHASE LABEL DOUBLE MATCH AFTER VARIANT
	local phase=$1 label=$2 dbl=$3 match=$4 after=$5 variant=$6 what
	local problems="" out passes=0 converged=0 p rc notes=""
	case $variant in
	inflight) what="in flight" ;;
	answered) what="answered, killed at the retry" ;;
	dropped) what="reply dropped, not killed" ;;
	envfile) what="file written, killed in the reload" ;;
	midwrite) what="temp file written, killed before the rename" ;;
	esac
	if ! crash_restore "$phase"; then
		not_ok "$phase/$label [$what]: could not restore the world after the set-up"
		return
	fi
	case $variant in
	inflight | answered)
		crash_kill_at "$dbl" "$match" "$after" "$variant" "$phase-$label-$variant" apply "$M" ;;
	envfile)
		crash_kill_envfile "$phase-$label" apply "$M" ;;
	midwrite)
		crash_kill_in_call renameat "$phase-$label" apply "$M"
		if [ "$CRASH_RESULT" != killed ]; then
			ok "$phase/$label [$what]: # SKIP $CRASH_RESULT (needs gdb and ptrace)"
			return
		fi ;;
	dropped)
		"${dbl}_ctl" POST faults "{\"rules\": [{\"match\": \"$match\", \"kind\": \"drop_after\", \"after\": $after, \"count\": 1}]}" >/dev/null
		crash_rotor "$phase-$label-dropped" apply "$M"
		CRASH_RESULT="exited $?"
		[ "$(_crash_applied "$dbl" 0)" -ge 1 ] || CRASH_RESULT="not reached"
		"${dbl}_ctl" DELETE faults >/dev/null ;;
	esac
	case $CRASH_RESULT in
	killed | exited*) ;;
	*) problems+="  kill point: $CRASH_RESULT"$'\n' ;;
	esac
	out=$(crash_check $U "$ENVF" $DELETE_AFTER --at-kill) || problems+="  after the kill:"$'\n'"$out"$'\n'
	notes=$(grep '  note:' <<<"$out")
	for p in 1 2; do
		crash_rotor "$phase-$label-$variant-restart$p" apply "$M"
		passes=$p
		out=$(crash_check $U "$ENVF" $DELETE_AFTER --converged)
		rc=$?
		[ $((rc & 1)) = 0 ] || problems+="  after restart pass $p:"$'\n'"$(grep -v 'not converged:' <<<"$out")"$'\n'
		if [ $((rc & 2)) = 0 ]; then
			converged=1
			break
		fi
	done
	if [ $converged = 0 ]; then
		problems+="  not converged within two passes:"$'\n'"$(grep 'not converged:' <<<"$out")"$'\n'
		problems+="  (last pass: $(grep -m1 'status:' "$CRASH_LOG.out" | sed 's/^ *//'))"$'\n'
	fi
	clock_advance $((3600 + DELETE_AFTER + 1))
	crash_rotor "$phase-$label-$variant-later1" apply "$M"
	out=$(crash_check $U "$ENVF" $DELETE_AFTER) || problems+="  later pass 1:"$'\n'"$out"$'\n'
	crash_rotor "$phase-$label-$variant-later2" apply "$M"
	out=$(crash_check $U "$ENVF" $DELETE_AFTER --final) || problems+="  later pass 2:"$'\n'"$out"$'\n'
	local summary="${CRASH_RESULT}; "
	[ $converged = 1 ] && summary+="converged after $passes pass$([ $passes = 1 ] || echo es)" ||
		summary+="did not converge"
	if [ -z "$problems" ]; then
		ok "$phase/$label [$what]: $summary; invariants held; one Active key later"
		[ -z "$notes" ] || printf '%s\n' "$notes"
	else
		not_ok "$phase/$label [$what]: $summary"
		printf '%s' "$problems"
	fi
}

#        phase  label                     double match            after
POINTS=(
	"adopt  validate(GetCallerIdentity)  aws GetCallerIdentity 0"
	"adopt  store(batch_create)          inf batch_create      0"
	"rotate intent(TagUser)              aws TagUser           0"
	"rotate create(CreateAccessKey)      aws CreateAccessKey   0"
	"rotate record-new-key(TagUser)      aws TagUser           1"
	"rotate validate(GetCallerIdentity)  aws GetCallerIdentity 1"
	"rotate store(batch_update)          inf batch_update      0"
	"rotate record-store-version(TagUser) aws TagUser          2"
	"rotate untag-intent(UntagUser)      aws UntagUser         0"
	"rotate envfile-write                -   -                 -"
	"rotate record-sync(TagUser)         aws TagUser           3"
	"deact  deactivate(UpdateAccessKey)  aws UpdateAccessKey   0"
	"deact  record-inactive(TagUser)     aws TagUser           0"
	"delete delete(DeleteAccessKey)      aws DeleteAccessKey   0"
	"delete untag-deleted(UntagUser)     aws UntagUser         0"
)
for want in "${PHASES[@]}"; do
	# on failure, every case of the phase fails too: there is nothing to restore
	setup "$want" && crash_snapshot "$want" || not_ok "$want: setup failed (see $WORLD/logs)"
	cases=0
	for point in "${POINTS[@]}"; do
		read -r phase label dbl match after <<<"$point"
		[ "$phase" = "$want" ] || continue
		cases=$((cases + 1))
		if [ "$dbl" = - ]; then
			run_case "$phase" "$label" - - - midwrite
			run_case "$phase" "$label" - - - envfile
			continue
		fi
		for variant in inflight answered dropped; do
			run_case "$phase" "$label" "$dbl" "$match" "$after" "$variant"
		done
	done
	[ $cases -gt 0 ] || not_ok "$want: the matrix has no kill point in this phase"
done
echo "# $((SECONDS - START))s"
finish
