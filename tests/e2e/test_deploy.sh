#!/usr/bin/env bash
# The deployment recipes (issue 19) are checked by the tools that own their
# formats: the systemd unit by `systemd-analyze verify` (with ExecStart
# pointed at the rotor under test), the alert rules by `promtool check
# rules`. Each check is skipped, saying so, where its tool is missing.
source "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/rotor-deploy.XXXXXX)
trap 'rm -rf "$T"' EXIT
D=$ROTOR_SOURCE_DIR/deploy
if command -v systemd-analyze >/dev/null; then
	sed "s#/usr/local/bin/rotor#$ROTOR_BIN#" "$D/systemd/rotor-controller.service" >"$T/rotor-controller.service"
	out=$(systemd-analyze verify "$T/rotor-controller.service" 2>&1)
	check "systemd-analyze verify accepts the unit" '[ -z "$out" ]'
	check "the unit runs the controller hardened: dynamic user, no new privileges, read-only system" \
		'grep -q "^DynamicUser=yes" "$T/rotor-controller.service" && grep -q "^NoNewPrivileges=yes" "$T/rotor-controller.service" && grep -q "^ProtectSystem=strict" "$T/rotor-controller.service" && grep -q "^LoadCredential=" "$T/rotor-controller.service"'
else
	echo "# systemd-analyze missing: the unit is not verified"
fi
if command -v promtool >/dev/null; then
	# the PrometheusRule's spec is a rule file, two spaces in
	sed -n '/^spec:$/,$p' "$D/kubernetes/rotor-prometheusrule.yaml" | sed '1d; s/^  //' >"$T/rules.yml"
	out=$(promtool check rules "$T/rules.yml" 2>&1)
	check "promtool check rules accepts the PrometheusRule's alerts" 'grep -q "SUCCESS: 4 rules found" <<<"$out"'
else
	echo "# promtool missing (Debian's prometheus package): the rules are not checked"
fi
check "the image recipe builds on Debian bookworm and runs as a non-root user" \
	'grep -q "^FROM debian:bookworm-slim" "$D/container/Containerfile" && grep -q "^USER 10001" "$D/container/Containerfile"'
finish
