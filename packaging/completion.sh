#!/bin/bash
# Print the bash completion script for kbackup, generated from the CLI's own yargs definition
# (`kbackup completion`), with the path it calls back fixed to the installed /usr/sbin/kbackup:
# yargs writes whatever $0 was at build time, and /usr/sbin is not in every user's PATH.
# Usage: packaging/completion.sh BIN
set -euo pipefail
bin=${1:?usage: packaging/completion.sh BIN}

die() { echo "packaging/completion.sh: $*" >&2; exit 1; }

script=$(env -i "$bin" completion 2>/dev/null) || true
case $script in
  *'--get-yargs-completions'*'complete -o bashdefault -o default -F _kbackup_yargs_completions kbackup'*) ;;
  *) die "'$bin completion' did not print a yargs bash completion script for 'kbackup'.
The CLI must declare yargs' completion command: .scriptName('kbackup').completion('completion', ...)" ;;
esac
fixed=$(printf '%s\n' "$script" |
  sed -E 's#^([[:space:]]*type_list=\$\()[^ ]+( --get-yargs-completions )#\1/usr/sbin/kbackup\2#')
case $fixed in
  *'type_list=$(/usr/sbin/kbackup --get-yargs-completions '*) ;;
  *) die "could not point the completion script at /usr/sbin/kbackup (yargs' template changed?)" ;;
esac
printf '%s\n' "$fixed"
