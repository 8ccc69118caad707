#!/usr/bin/env bash
# Commit verification (issue 18, source.verify): with allowedSigners, rotor
# reads manifests only from a commit signed by a listed SSH key, checked
# with ssh-keygen -Y as git does. Commits signed with real keys by git
# itself (gpg.format=ssh):
#  - signed by the trusted key: read;
#  - unsigned: refused, nothing read;
#  - signed by a key allowedSigners does not list: refused;
#  - --revision of an older trusted commit: read; the refusal names the
#    commit it refused.
source "$(dirname "$0")/lib.sh"
command -v git >/dev/null && command -v ssh-keygen >/dev/null ||
	{ echo "skip: needs git and ssh-keygen (scripts/deps.sh installs them)"; exit 77; }
T=$(mktemp -d /tmp/rotor-verify.XXXXXX)
trap 'rm -rf "$T"' EXIT
git_identity signer@example.invalid
ssh-keygen -q -t ed25519 -N '' -C trusted -f "$T/trusted"
ssh-keygen -q -t ed25519 -N '' -C intruder -f "$T/intruder"
printf 'signer@example.invalid namespaces="git" %s\n' "$(cut -d' ' -f1,2 "$T/trusted.pub")" >"$T/allowed_signers"
git_app_repo "$T/repo"
signed_commit() { # KEY MESSAGE
	git -C "$T/repo" add -A
	git -C "$T/repo" -c gpg.format=ssh -c user.signingkey="$1" commit -q -S -m "$2"
	git -C "$T/repo" rev-parse HEAD
}
GOOD=$(signed_commit "$T/trusted" "app, signed")
cat >"$T/rotor.yaml" <<EOF
apiVersion: rotor/v1
kind: Config
connections:
  aws:
    aws-prod: {region: us-east-1}
  infisical:
    infisical-main: {siteUrl: "https://infisical.example", clientId: {env: X_ID}, clientSecret: {env: X_SECRET}}
source:
  url: "file://$T/repo"
  path: aws
  cacheDir: $T/cache
  verify: {allowedSigners: $T/allowed_signers}
EOF
rv() {
	out=$("$ROTOR_BIN" validate --config "$T/rotor.yaml" "$@" 2>&1)
	rc=$?
}
rv
check "a commit signed by the trusted key is read" '[ $rc = 0 ] && grep -q "1 manifest OK" <<<"$out"'

sed -i 's/raxx-app/raxx-app2/' "$T/repo/aws/app.yaml"
git -C "$T/repo" commit -qam "unsigned"
UNSIGNED=$(git -C "$T/repo" rev-parse HEAD)
rv
check "an unsigned head is refused, naming the commit; nothing read" \
	'[ $rc = 1 ] && grep -q "commit ${UNSIGNED:0:12} is not signed" <<<"$out" && ! grep -q "manifest OK" <<<"$out"'

sed -i 's/raxx-app2/raxx-app3/' "$T/repo/aws/app.yaml"
signed_commit "$T/intruder" "signed by someone else" >/dev/null
rv
check "a head signed by a key allowedSigners does not list is refused" \
	'[ $rc = 1 ] && grep -q "signed by an SSH key that .*allowed_signers does not list" <<<"$out"'

rv --revision "$GOOD"
check "the verified older commit can still be read with --revision" '[ $rc = 0 ] && grep -q "1 manifest OK" <<<"$out"'
rv --revision "$UNSIGNED"
check "--revision of an unsigned commit is refused too" '[ $rc = 1 ] && grep -q "commit ${UNSIGNED:0:12} is not signed" <<<"$out"'

# ---- OpenPGP: gpgKeyring, checked with gpgv ------------------------------------------
if command -v gpg >/dev/null && command -v gpgv >/dev/null; then
	export GNUPGHOME=$T/gnupg
	mkdir -m 700 "$GNUPGHOME"
	gpg --batch --quiet --passphrase '' --quick-gen-key "Signer <signer@example.invalid>" ed25519 sign never 2>/dev/null
	gpg --batch --quiet --passphrase '' --quick-gen-key "Intruder <intruder@example.invalid>" ed25519 sign never 2>/dev/null
	FPR=$(gpg --with-colons --list-keys signer@example.invalid 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}')
	BAD_FPR=$(gpg --with-colons --list-keys intruder@example.invalid 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}')
	gpg --batch --export "$FPR" >"$T/trusted.gpg"
	sed -i "s#verify: {allowedSigners: .*}#verify: {gpgKeyring: $T/trusted.gpg}#" "$T/rotor.yaml"
	pgp_commit() { # FINGERPRINT MESSAGE
		git -C "$T/repo" add -A
		git -C "$T/repo" -c gpg.format=openpgp -c user.signingkey="$1" commit -q -S -m "$2"
	}
	sed -i 's/raxx-app3/raxx-app4/' "$T/repo/aws/app.yaml"
	pgp_commit "$FPR" "signed with OpenPGP"
	rv
	check "gpg: a commit signed by a key in gpgKeyring is read" '[ $rc = 0 ] && grep -q "1 manifest OK" <<<"$out"'
	sed -i 's/raxx-app4/raxx-app5/' "$T/repo/aws/app.yaml"
	pgp_commit "$BAD_FPR" "signed by a key not in the keyring"
	rv
	check "gpg: a commit signed by a key not in gpgKeyring is refused" \
		'[ $rc = 1 ] && grep -q "OpenPGP signature does not verify against" <<<"$out"'
	rv --revision "$GOOD"
	check "gpg: an SSH-signed commit is refused when only gpgKeyring is trusted" \
		'[ $rc = 1 ] && grep -q "signed with an SSH signature, which source.verify does not trust" <<<"$out"'
else
	echo "# gpg or gpgv missing: the OpenPGP cases are not run"
fi
finish
