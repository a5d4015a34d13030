#!/usr/bin/env bash
# What the benchmark needs besides the test tools: Ansible (the comparison),
# sshd (the hosts) and python3 (peak RSS of child processes). Installs what
# is missing when run as root on Debian; otherwise says what to install.
set -euo pipefail
packages=(ansible-core openssh-server openssh-client python3 git)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
((${#missing[@]} == 0)) && exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "the benchmark needs: ${missing[*]} (Debian packages); install them and run npm run bench again" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
DEBIAN_FRONTEND=noninteractive apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
