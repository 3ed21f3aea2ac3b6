#!/bin/bash
# Print the path of the LICENSE file of the node that packaging/build.sh embeds (the same
# KBACKUP_NODE or `command -v node`): Debian-style packages keep it in /usr/share/doc/nodejs,
# nodejs.org tarballs in share/doc/node next to bin/.
set -euo pipefail
node_bin=$(readlink -f "${KBACKUP_NODE:-$(command -v node)}")
prefix=$(dirname "$(dirname "$node_bin")")
for f in "$prefix/share/doc/nodejs/LICENSE" "$prefix/share/doc/node/LICENSE" "$prefix/LICENSE" \
         /usr/share/doc/nodejs/copyright; do
  [ -f "$f" ] && { echo "$f"; exit 0; }
done
echo "packaging/node-license.sh: cannot find the license of $node_bin; the package must ship it" >&2
exit 1
