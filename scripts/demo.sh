#!/usr/bin/env bash
# The main job: builds rotor and runs a whole key rotation on the local
# test doubles (IAM/STS and Infisical on loopback, sharing a simulated
# clock with rotor), narrating each step: adoption, create, validate,
# store, propagate, deactivate, delete, then a second rotation at cadence.
# Stops everything it started. Takes well under two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROTOR_TESTS=OFF -DROTOR_TEST_HOOKS=ON >/dev/null
cmake --build build/release -j2 >/dev/null
ROTOR=$PWD/build/release/rotor
export ROTOR_SOURCE_DIR=$PWD ROTOR_PYTHON=${ROTOR_PYTHON:-python3} NO_COLOR=1
"$ROTOR" version | head -1
source tests/e2e/world.sh

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
show_world() {
	echo "  IAM keys of $U:"
	iam_keys "$U" | sed 's/^/    /'
	echo "  the store (Infisical /aws) holds: $(store_akid)"
	echo "  the app's env file holds:          $(sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$WORLD/etc/s3-backup-writer.env" 2>/dev/null || true)"
}

say "Starting the IAM/STS and Infisical test doubles on loopback (simulated clock: 2026-01-01T00:00:00Z)"
world_start 2026-01-01T00:00:00Z
U=raxx-s3-backup
aws_ctl POST users "{\"name\": \"$U\", \"keys\": [{\"created\": \"2025-09-15T08:00:00Z\", \"last_used\": {\"date\": \"2025-12-31T23:00:00Z\", \"service\": \"s3\", \"region\": \"eu-west-1\"}}]}" >/dev/null
aws_ctl POST settings '{"propagation_delay": 2}' >/dev/null
echo "IAM user $U exists with one hand-made key, 108 days old, used yesterday by S3."
echo "Its secret is in nobody's store yet: rotor will adopt it."
write_manifest s3-backup-writer "$U" 30d 1h 1d
M=$WORLD/manifests
echo; echo "The manifest an operator commits to git:"; sed 's/^/  /' "$M/s3-backup-writer.yaml"
show_world

say "1. rotor plan — what would change, and why (plan never mutates)"
"$ROTOR" plan "$M" || true

say "2. rotor apply — adopt: create a key, validate it with STS (IAM takes ~2s to propagate it), store the pair, propagate it"
"$ROTOR" apply "$M"
show_world

say "rotor status — the old key stays Active for the 1h grace (deactivateAfter)"
"$ROTOR" status "$M"

say "3. One hour and a bit later: every consumer holds the new key and the old one was not used since — deactivate"
clock_advance 4000
echo "(clock: $(clock_now))"
"$ROTOR" apply "$M"
show_world

say "4. A day later: the Inactive key's observation window (deleteAfter 1d) is over — delete"
clock_advance 86400
echo "(clock: $(clock_now))"
"$ROTOR" apply "$M"
show_world

say "5. Thirty days later: the key reached its cadence (30d) — a second rotation"
clock_advance $((30 * 86400))
echo "(clock: $(clock_now))"
"$ROTOR" apply "$M"
show_world

say "rotor status after the second rotation"
"$ROTOR" status "$M"

say "The audit log (one JSON line per mutation, never a secret):"
sed 's/^/  /' "$WORLD/audit.jsonl"
say "Done. Stopping the doubles."
world_stop
rm -rf "$WORLD"
