#!/bin/sh
# A stand-in for a Riak release's bin/cuttlefish (run by erts' escript),
# for tests (not cuttlefish): it refuses a riak.conf key that Riak KV
# 3.2.3's schemas do not have, in cuttlefish's words.
root=$(cd "$(dirname "$0")/.." && pwd)
conf=
while [ $# -gt 0 ]; do
  case "$1" in -c) conf=$2; shift ;; esac
  shift
done
bad=$(grep -v '^[[:space:]]*#' "$conf" | grep '=' | sed 's/[[:space:]]*=.*//; s/^[[:space:]]*//' | grep -v -x -E -f "$root/share/schema-keys.re" | head -1)
if [ -n "$bad" ]; then
  now=$(date -u +%Y-%m-%dT%H:%M:%S.000000+00:00)
  echo "$now [error] You've tried to set $bad, but there is no setting with that name."
  echo "$now [error] Error generating configuration in phase transform_datatypes"
  echo "$now [error] Conf file attempted to set unknown variable: $bad"
  exit 1
fi
echo "-config $root/generated.conf/app.config -args_file $root/generated.conf/vm.args -vm_args $root/generated.conf/vm.args"
