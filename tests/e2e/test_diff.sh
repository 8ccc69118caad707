#!/usr/bin/env bash
# `rotor diff` (issue 18) over a repository the test builds commit by commit
# (fixed authors and dates, so the commit ids and the output are the same
# on every run): add, change cadence, add a consumer, move a store path,
# remove, add in observe mode, an invalid head. The markdown is compared
# with golden files (testdata/diff/; ROTOR_UPDATE_GOLDEN=1 rewrites them);
# text and JSON are checked for their content; PATHs narrow the diff; a
# change of 400 manifests stays under GitHub's comment limit, cut between
# sections. Offline: no config, no remote.
source "$(dirname "$0")/lib.sh"
command -v git >/dev/null || { echo "skip: git is not installed"; exit 77; }
T=$(mktemp -d /tmp/rotor-diff.XXXXXX)
trap 'rm -rf "$T"' EXIT
GOLDEN=$ROTOR_SOURCE_DIR/testdata/diff
git_identity
n=0
commit() { # MESSAGE
	n=$((n + 1))
	export GIT_AUTHOR_DATE="2026-0$((n < 10 ? 1 : 2))-$(printf %02d $((n % 28 + 1)))T10:00:00Z"
	export GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
	git -C "$T/repo" add -A && git -C "$T/repo" commit -qm "$1"
	git -C "$T/repo" rev-parse HEAD
}
manifest() { # NAME USER CADENCE FOLDER [EXTRA_SPEC] [CONSUMERS]
	cat <<YAML
apiVersion: rotor/v1
kind: AccessKeyRotation
metadata:
  name: $1
spec:
  user: $2
  aws: aws-prod
  cadence: $3${5:+
$5}
  store:
    infisical:
      connection: infisical-main
      projectId: 6a1c2f3e-8b9d-4c1a-9e2f-3d4c5b6a7e8f
      environment: prod
      secretPath: $4
  consumers:
    - name: app
      envFile: {path: /etc/raxx/$1.env}${6:+
$6}
YAML
}
rdiff() { # ARGS...: rotor diff in the repository; sets out and rc
	out=$(cd "$T/repo" && "$ROTOR_BIN" diff "$@" 2>&1)
	rc=$?
}
golden() { # NAME: compares $out with testdata/diff/NAME.md
	if [ "${ROTOR_UPDATE_GOLDEN:-}" = 1 ]; then
		mkdir -p "$GOLDEN" && printf '%s\n' "$out" >"$GOLDEN/$1.md"
	fi
	if diff -u "$GOLDEN/$1.md" <(printf '%s\n' "$out") >"$T/golden.diff"; then
		ok "markdown of $1 matches testdata/diff/$1.md"
	else
		not_ok "markdown of $1 matches testdata/diff/$1.md"
		sed 's/^/#   /' "$T/golden.diff" | head -40
	fi
}

mkdir -p "$T/repo/manifests"
git -C "$T/repo" init -q -b main
manifest alpha raxx-alpha 90d /alpha >"$T/repo/manifests/alpha.yaml"
manifest beta raxx-beta 30d /beta >"$T/repo/manifests/beta.yaml"
C1=$(commit "alpha and beta")
sed -i 's/^  cadence: 90d$/  cadence: 30d/' "$T/repo/manifests/alpha.yaml"
manifest beta raxx-beta 30d /beta "" "    - name: worker
      heroku: {connection: heroku-main, app: raxx-worker}" >"$T/repo/manifests/beta.yaml"
C2=$(commit "alpha: 30d; beta: a worker")
sed -i 's#secretPath: /beta$#secretPath: /beta-v2#' "$T/repo/manifests/beta.yaml"
C3=$(commit "beta: move the store")
git -C "$T/repo" rm -q manifests/alpha.yaml
manifest gamma raxx-gamma 30d /gamma "  mode: observe" >"$T/repo/manifests/gamma.yaml"
C4=$(commit "alpha gone, gamma observed")

rdiff --base "$C1" --head "$C1" --detailed-exitcode
check "no change: exit 0 under --detailed-exitcode" '[ $rc = 0 ] && grep -q "0 added, 0 removed, 0 changed" <<<"$out"'
rdiff --base "$C1" --head "$C2" --detailed-exitcode
check "changes: exit 2 under --detailed-exitcode" '[ $rc = 2 ]'
check "text: a shorter cadence says who rotates" \
	'grep -q "spec.cadence: 90d -> 30d" <<<"$out" && grep -q "rotates on the next pass if it is older than 30d" <<<"$out"'
check "text: a new consumer is written on the next pass" \
	'grep -q "consumer worker: (none) -> heroku heroku-main/raxx-worker" <<<"$out" && grep -q "written on the next pass" <<<"$out"'
rdiff --base "$C2" --head "$C3"
check "text: a moved store path is loud: a NEW place, the old one no longer updated" \
	'grep -q "!! spec.store:" <<<"$out" && grep -q "written to a NEW place and the old place is no longer updated" <<<"$out"'
check "summary: the move rotates on merge" 'grep -q "1 user rotates on merge" <<<"$out"'
rdiff --base "$C1" --head "$C4" --format markdown
golden c1-c4
check "markdown: the hidden marker first, then the one-line summary" \
	'[ "$(head -1 <<<"$out")" = "<!-- rotor-diff -->" ] && grep -q "^\*\*1 user rotates on merge, 1 stops being managed, 0 errors\*\*$" <<<"$out"'
rdiff --base "$C2" --head "$C3" --format markdown
golden c2-c3
rdiff --base "$C1" --head "$C4" --format json
check "json: counts and kinds" \
	'"$ROTOR_PYTHON" -c "import json,sys; d=json.load(sys.stdin); s=d[\"summary\"]; k={m[\"name\"]: m[\"kind\"] for m in d[\"manifests\"]}; assert (s[\"added\"], s[\"removed\"], s[\"changed\"]) == (1, 1, 1), s; assert k == {\"alpha\": \"removed\", \"beta\": \"changed\", \"gamma\": \"added\"}, k" <<<"$out"'
rdiff --base "$C1" --head "$C4" manifests/beta.yaml
check "PATHs narrow the diff to those files" \
	'grep -q "beta" <<<"$out" && ! grep -q "alpha\|gamma" <<<"$out"'

printf 'apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata: {name: Bad_Name}\nspec: {user: x}\n' >"$T/repo/manifests/bad.yaml"
C5=$(commit "bad")
rdiff --base "$C4" --head "$C5"
check "an invalid head is reported as validate does (path@sha:line:col), exit 3" \
	'[ $rc = 3 ] && grep -q "^manifests/bad.yaml@${C5:0:7}:3:18: metadata.name" <<<"$out"'
rdiff --base "$C4" --head "$C5" --format markdown
check "markdown: the problems at head are in the comment, in a fenced block" \
	'[ $rc = 3 ] && grep -q "problems in the manifests at head" <<<"$out" && grep -q "^manifests/bad.yaml@${C5:0:7}:3:18: metadata.name" <<<"$out"'
rdiff --base "$C4" --head nosuchref
check "an unknown ref: exit 1, naming it" '[ $rc = 1 ] && grep -q "head nosuchref" <<<"$out"'
mkdir -p "$T/norepo"
out=$(cd "$T/norepo" && GIT_CEILING_DIRECTORIES=$T "$ROTOR_BIN" diff --base HEAD~1 --head HEAD 2>&1)
rc=$?
check "outside a repository: exit 1, saying so" '[ $rc = 1 ] && grep -q "is not inside a git repository" <<<"$out"'

# A hostile head: a tree that reuses subtrees 30 levels deep (exponential
# to walk naively), a 2 MB "manifest", and text that tries to inject HTML
# and a heading into the pull-request comment.
tree=$(printf '100644 blob %s\tx.txt\n' "$(echo x | git -C "$T/repo" hash-object -w --stdin)" | git -C "$T/repo" mktree)
for k in $(seq 1 30); do
	tree=$(printf '040000 tree %s\ta\n040000 tree %s\tb\n' "$tree" "$tree" | git -C "$T/repo" mktree)
done
BOMB=$(git -C "$T/repo" commit-tree -p "$C5" -m bomb "$tree")
out=$(cd "$T/repo" && timeout 20 "$ROTOR_BIN" diff --base "$C4" --head "$BOMB" 2>&1)
rc=$?
check "a tree that reuses subtrees is cut short (entries and depth capped), not walked for ever" \
	'[ $rc = 3 ] && grep -q "more than 200000 entries\|nested deeper than 32 levels" <<<"$out"'
head -c 2000000 /dev/zero | tr '\0' 'a' >"$T/repo/manifests/huge.yaml"
manifest evil raxx-evil 30d '/x' >"$T/repo/manifests/evil.yaml"
sed -i 's#projectId: .*#projectId: "\\\\<img src=https://evil.example/p.png>\\r\\r\#\# Approved by security"#' "$T/repo/manifests/evil.yaml"
C7=$(commit "hostile")
rdiff --base "$C4" --head "$C7" --format markdown
check "a file over 1 MiB is reported by its size, not read" '[ $rc = 3 ] && grep -q "huge.yaml@.*over the 1048576 a manifest may have" <<<"$out"'
check "manifest text cannot inject HTML or a heading into the comment" \
	'grep -q "img src" <<<"$out" && grep -oE "\\\\*<img" <<<"$out" | awk "{ if ((length(\$0) - 4) % 2 == 0) bad = 1 } END { exit bad }" && ! grep -q $'"'"'\r'"'"' <<<"$out" && ! grep -q "^## Approved" <<<"$out"'
git -C "$T/repo" rm -q manifests/huge.yaml manifests/evil.yaml manifests/bad.yaml
for i in $(seq -w 1 400); do
	manifest "bulk-$i" "raxx-bulk-$i" 30d "/bulk/$i" >"$T/repo/manifests/bulk-$i.yaml"
done
C6=$(commit "400 more")
rdiff --base "$C4" --head "$C6" --format markdown
check "400 manifests: the comment stays under 65,536 bytes, cut between sections with a note" \
	'[ ${#out} -lt 65536 ] && grep -q "more manifests not shown" <<<"$out" && [ "$(grep -c "<details" <<<"$out")" = "$(grep -c "</details>" <<<"$out")" ]'
finish
