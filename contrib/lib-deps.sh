# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by .ci/run and contrib/build-and-demo.sh: installs contrib/deps.txt.

# deps_list: the package names in contrib/deps.txt, one per line.
deps_list() {
	sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$(dirname "${BASH_SOURCE[0]}")/deps.txt"
}

# deps_missing: the packages from deps.txt that are not installed yet.
deps_missing() {
	local p
	for p in $(deps_list); do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
	done
}

# deps_install: apt-get update and install deps.txt quietly and non-interactively.
# Recommends are left out on purpose (podman's would pull in buildah and dbus);
# the few that matter are listed in deps.txt.
deps_install() {
	export DEBIAN_FRONTEND=noninteractive
	echo "deps: apt-get update"
	apt-get -qq -o Acquire::Retries=3 update </dev/null
	echo "deps: installing $(deps_list | tr '\n' ' ')"
	# shellcheck disable=SC2046
	apt-get -qq -y --no-install-recommends -o Acquire::Retries=3 -o Dpkg::Use-Pty=0 install $(deps_list) </dev/null >/dev/null
}
