#!/usr/bin/env bash
# Installs rotor's build and test dependencies from Debian bookworm.
# Idempotent: installs only what is missing, so a second run costs nothing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libcurl4-openssl-dev libssl-dev libyaml-dev
      libgit2-dev libjansson-dev libexpat1-dev libsodium-dev libmicrohttpd-dev
      libssh2-1-dev libcmocka-dev python3 python3-nacl clang clang-format git openssh-server
      openssh-client gnupg gpgv prometheus curl openssl)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: these packages are missing and installing them needs root: ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
