#!/usr/bin/env bash
# crash-soak.sh: the long randomized crash run (not part of CTest).
#
#   ROTOR_BIN=build/rotor scripts/crash-soak.sh [KILLS]      (default 200)
#
# One user with an env-file consumer rotates over many simulated months: each
# cycle advances the shared clock by the cadence (a pass that deletes the
# old Inactive key and rotates, or deactivates the predecessor) and then by
# deleteAfter (a pass that deactivates). Every pass is started as
# `rotor apply` and killed -9 after a random pause within a typical pass
# (every call to the doubles is slowed by CRASH_SOAK_LATENCY_MS, default 15,
# so the pauses land among the calls). After each kill: the §6 invariants
# are checked (tests/e2e/crashlib.sh), then `rotor apply` runs until the user
# has converged, checking after each pass; more than two passes is a failure.
# At the end the clock moves past deactivateAfter + deleteAfter and two
# passes must leave exactly one Active key.
#
# Prints: kills, kills by phase (the last mutation the killed pass
# committed), passes that finished before their kill, violations (each
# distinct one once, with a count), passes needed to converge (histogram and
# maximum), rotations completed, wall time. Exit 1 on any violation or
# non-convergence. Env: ROTOR_BIN, ROTOR_PYTHON, CRASH_SOAK_LATENCY_MS,
# CRASH_SOAK_SEED (bash RANDOM seed), CRASH_KEEP=1 (keep the world).
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${ROTOR_SOURCE_DIR:=$(cd "$here/.." && pwd)}"
: "${ROTOR_BIN:=$ROTOR_SOURCE_DIR/build/rotor}"
: "${ROTOR_PYTHON:=python3}"
export ROTOR_SOURCE_DIR ROTOR_BIN ROTOR_PYTHON
source "$ROTOR_SOURCE_DIR/tests/e2e/lib.sh"
source "$ROTOR_SOURCE_DIR/tests/e2e/world.sh"
source "$ROTOR_SOURCE_DIR/tests/e2e/crashlib.sh"
[ -x "$ROTOR_BIN" ] || { echo "crash-soak: no rotor at $ROTOR_BIN (set ROTOR_BIN)" >&2; exit 2; }

KILLS=${1:-200}
LAT=${CRASH_SOAK_LATENCY_MS:-15}
RANDOM=${CRASH_SOAK_SEED:-$$}
START=$SECONDS
crash_world_start 2026-03-01T00:00:00Z || exit 1
ARCHIVE=$WORLD.logs # scanned logs move here, so each check reads only new ones
mkdir -p "$ARCHIVE"
export ROTOR_VALIDATE_TIMEOUT_MS=20000 ROTOR_LOG_LEVEL=info
M=$WORLD/manifests
N=soak
U=raxx-soak
ENVF=$WORLD/etc/$N.env
CADENCE=$((30 * 86400))
DEACT=3600
DELETE_AFTER=86400
crash_manifest $N $U 30d 1h 1d

kills=0 finished=0 violations=0 observations=0 temps_left=0 nonconv=0 resets=0 maxpasses=0 rotations=0
declare -A by_phase=() seen_violation=() conv_hist=() first_seen=()
last_store=""

slow_doubles() {
	local rule="{\"rules\": [{\"match\": \"*\", \"kind\": \"latency\", \"latency_ms\": $LAT, \"count\": -1}]}"
	aws_ctl POST faults "$rule" >/dev/null && inf_ctl POST faults "$rule" >/dev/null
}

seed() { # a fresh user whose store and consumer hold its one key
	crash_reset
	clock_set 2026-03-01T00:00:00Z
	crash_seed_user $U 2026-02-01T00:00:00Z 2026-02-28T12:00:00Z
	crash_seed_store "$(iam_keys $U | awk '{print $1}')"
	slow_doubles
	crash_rotor seed apply "$M" >/dev/null
	crash_check $U "$ENVF" $DELETE_AFTER >/dev/null
	last_store=$(crash_store_akid)
}

# A violation that persists (a leaked file stays) is seen at every later
# check: it counts once, with where it was first seen; `observations`
# counts every sighting.
note_violations() { # CONTEXT CHECK_OUTPUT
	local line kind
	while IFS= read -r line; do
		line=$(sed -E 's/^ *(violation|not converged|final): *//' <<<"$line")
		case $line in "" | *"note: "*) continue ;; esac
		observations=$((observations + 1))
		[ -n "${first_seen[$line]:-}" ] && continue
		first_seen[$line]=$1
		violations=$((violations + 1))
		kind=$(sed -E 's/AKIA[A-Z0-9]+/AKIA…/g; s/rotor-[0-9a-f]+/rotor-…/g; s/[0-9]+/N/g' <<<"$line")
		seen_violation[$kind]=$((${seen_violation[$kind]:-0} + 1))
		echo "  ! [$1] $line" >&2
	done <<<"$2"
}

archive_logs() { mv "$WORLD"/logs/* "$ARCHIVE"/ 2>/dev/null; }

# Typical pass lengths, from one calibration cycle without kills.
seed
typical_rot=0 typical_other=0 observe_ms=0
for step in rot other rot other; do
	[ $step = rot ] && clock_advance $CADENCE || clock_advance $((DELETE_AFTER + 1))
	t=$(date +%s%N)
	crash_rotor "calibrate-plan-$step" plan "$M" >/dev/null # the observing part of a pass
	ms=$((($(date +%s%N) - t) / 1000000))
	[ $ms -gt $observe_ms ] && observe_ms=$ms
	t=$(date +%s%N)
	crash_rotor "calibrate-$step" apply "$M" >/dev/null
	ms=$((($(date +%s%N) - t) / 1000000))
	if [ $step = rot ]; then
		[ $ms -gt $typical_rot ] && typical_rot=$ms
	else
		[ $ms -gt $typical_other ] && typical_other=$ms
	fi
	out=$(crash_check $U "$ENVF" $DELETE_AFTER) || note_violations "calibration" "$out"
done
echo "crash-soak: typical passes: rotate/delete ${typical_rot}ms, deactivate ${typical_other}ms, observing ${observe_ms}ms; latency ${LAT}ms per call; target $KILLS kills"

step=rot
while [ $kills -lt $KILLS ]; do
	if [ $step = rot ]; then
		clock_advance $CADENCE
		max=$typical_rot
	else
		clock_advance $((DELETE_AFTER + 1))
		max=$typical_other
	fi
	read -r seq_aws seq_inf < <(crash_calls_seq)
	store_before=$(crash_store_akid)
	# Most pauses land after the observing part (where the mutations are),
	# one in five anywhere from the start.
	if [ $((RANDOM % 5)) = 0 ]; then lo=0; else lo=$((observe_ms * 8 / 10)); fi
	crash_kill_random $lo $((max * 11 / 10)) "kill-$step" apply "$M"
	if [ "$CRASH_RESULT" = killed ]; then
		kills=$((kills + 1))
		sleep "0.$(printf '%03d' $((LAT + 60)))" # calls held in latency land now
		phase=$(crash_phase "$seq_aws" "$seq_inf" "$store_before")
		by_phase[$phase]=$((${by_phase[$phase]:-0} + 1))
	else
		finished=$((finished + 1))
		phase="finished ($CRASH_RESULT)"
	fi
	out=$(crash_check $U "$ENVF" $DELETE_AFTER --at-kill) || note_violations "kill #$kills, $phase: after the kill" "$out"
	grep -q '  note:' <<<"$out" && temps_left=$((temps_left + 1))
	passes=0
	converged=0
	for p in 1 2 3 4 5; do
		crash_rotor "restart$p" apply "$M" >/dev/null
		passes=$p
		out=$(crash_check $U "$ENVF" $DELETE_AFTER --converged) # exit bits: 1 violation, 2 not converged
		rc=$?
		[ $((rc & 1)) = 0 ] ||
			note_violations "kill #$kills, $phase: restart pass $p" "$(grep -v 'not converged:' <<<"$out")"
		if [ $((rc & 2)) = 0 ]; then
			converged=1
			break
		fi
	done
	conv_hist[$passes]=$((${conv_hist[$passes]:-0} + 1))
	[ $converged = 1 ] && [ $passes -gt $maxpasses ] && maxpasses=$passes
	if [ $converged = 0 ] || [ $passes -gt 2 ]; then
		nonconv=$((nonconv + 1))
		why=$(grep 'not converged:' <<<"$out" | sed 's/^ *not converged: //' | paste -sd';')
		note_violations "kill #$kills, $phase" "did not converge within two passes ($passes run${why:+: $why})"
		grep -m1 'status:' "$CRASH_LOG.out" >&2
	fi
	if [ $converged = 0 ]; then
		resets=$((resets + 1)) # stuck: start over with a fresh user
		seed
	fi
	now_store=$(crash_store_akid)
	[ -n "$now_store" ] && [ "$now_store" != "$last_store" ] && rotations=$((rotations + 1))
	last_store=$now_store
	archive_logs
	[ $step = rot ] && step=other || step=rot
	[ $((kills % 25)) = 0 ] && [ "$CRASH_RESULT" = killed ] &&
		echo "crash-soak: $kills kills, $violations violations, $((SECONDS - START))s" >&2
done

# The end: past both windows, exactly one Active key and no stale record.
aws_ctl DELETE faults >/dev/null
inf_ctl DELETE faults >/dev/null
clock_advance $((DEACT + DELETE_AFTER + 1))
for p in 1 2; do
	crash_rotor final$p apply "$M" >/dev/null
	out=$(crash_check $U "$ENVF" $DELETE_AFTER) || note_violations "final pass $p" "$out"
done
out=$(crash_final $U) || note_violations "final" "$out"
torn=$("$ROTOR_PYTHON" -c '
import json, sys
bad = 0
for line in open(sys.argv[1]):
    try:
        json.loads(line)
    except ValueError:
        bad += 1
print(bad)' "$WORLD/audit.jsonl")
[ "$torn" = 0 ] || note_violations "final" "audit log: $torn lines that are not JSON (torn by a kill)"

echo
echo "crash-soak figures"
echo "  kills:                 $kills (plus $finished passes that finished before their kill)"
echo "  kills by phase (the last mutation the killed pass committed):"
for k in "${!by_phase[@]}"; do printf '    %5d  %s\n' "${by_phase[$k]}" "$k"; done | sort -k2
echo "  rotations completed:   $rotations"
echo "  kills that left an env-file temp file: $temps_left (a violation if a pass after it still finds it)"
echo "  passes to converge:    max $maxpasses;$(for k in $(printf '%s\n' "${!conv_hist[@]}" | sort -n); do printf ' %s pass(es): %s;' "$k" "${conv_hist[$k]}"; done)"
echo "  not converged in 2:    $nonconv (world re-seeded $resets times)"
echo "  violations:            $violations distinct ($observations sightings)"
for k in "${!seen_violation[@]}"; do printf '    %5d × %s\n' "${seen_violation[$k]}" "$k"; done
for k in "${!first_seen[@]}"; do printf '    first seen %s: %s\n' "${first_seen[$k]}" "$k"; done | sort | head -20
echo "  wall time:             $((SECONDS - START))s"
[ $violations = 0 ] && [ $nonconv = 0 ]
