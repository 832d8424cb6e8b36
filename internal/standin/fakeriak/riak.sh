#!/bin/sh
# A stand-in for a Riak KV 3.x release's bin/riak, for tests (not Riak).
# Its answers copy real Riak KV 3.2.3's output word for word; the node
# itself is the devnode ($FAKE_RIAK_RMF devnode). It logs every admin
# call to platform_data_dir/admin.log and the start to console.log.
root=$(cd "$(dirname "$0")/.." && pwd)
etc=${RUNNER_ETC_DIR:-$root/etc}
get() { sed -n "s/^$1 = //p" "$etc/riak.conf" | tail -1; }
node=$(get nodename)
data=$(get platform_data_dir)
q() { printf "'%s'" "$1"; } # an Erlang atom as ~p prints it
case "$1" in
chkconfig)
  # Real riak chkconfig prints only this when cuttlefish refuses; its
  # reasons show when cuttlefish runs by itself (bin/cuttlefish).
  if ! "$root/bin/cuttlefish" -e "$etc" -c "$etc/riak.conf" > /dev/null; then
    echo "Cuttlefish failed! Oh no!: "
    exit 1
  fi
  echo "config is OK"
  echo "-config $root/generated.conf/app.1.config -args_file $root/generated.conf/vm.1.args -vm_args $root/generated.conf/vm.1.args"
  ;;
foreground|console)
  echo "$* ERL_EPMD_PORT=$ERL_EPMD_PORT" >> "$data/console.log"
  echo $$ > "$data/console.pid"
  exec "$FAKE_RIAK_RMF" devnode --name "$node" --pb "$(get listener.protobuf.internal)" --http "$(get listener.http.internal)" --data "$data/devnode" ;;
ping)
  if kill -0 "$(cat "$data/console.pid" 2>/dev/null)" 2>/dev/null; then echo pong; else echo "Node $node is not responding to pings"; exit 1; fi ;;
admin)
  echo "$*" >> "$data/admin.log"
  shift
  case "$*" in
  # riak admin exits 0 whatever the answer; nodetool prints the console
  # function's result (ok or error) on a line of its own.
  "cluster join "*)
    # $FAKE_RIAK_UNREACHABLE names a join target that does not answer (tests).
    if [ "$3" = "$FAKE_RIAK_UNREACHABLE" ]; then printf 'Node %s is not reachable!\nerror\n' "$3"; exit 0; fi
    if [ -e "$data/joined" ]; then printf 'Failed: This node is already a member of a cluster\nerror\n'; exit 0; fi
    touch "$data/joined"
    echo "Success: staged join request for $(q "$node") to $(q "$3")"; echo ok ;;
  "cluster force-replace "*) echo "Success: staged forced replacement of $(q "$3") with $(q "$4")"; echo ok ;;
  "cluster leave") echo "Success: staged leave request for $(q "$node")"; echo ok ;;
  "cluster plan") echo "There are no staged changes"; echo ok ;;
  "cluster commit")
    echo "Cluster changes committed"; echo ok
    if grep -q "cluster leave" "$data/admin.log"; then kill -TERM "$(cat "$data/console.pid")"; fi ;;
  "wait-for-service riak_kv"*) echo "riak_kv is up" ;;
  ringready)
    # $FAKE_RIAK_DOWN names a member that is down (tests).
    if [ -n "$FAKE_RIAK_DOWN" ] && [ -e "$FAKE_RIAK_DOWN" ]; then
      echo "FALSE [$(q "$(cat "$FAKE_RIAK_DOWN")")] down.  All nodes need to be up to check."; echo ok
    else
      echo "TRUE All nodes agree on the ring [$(q "$node")]"; echo ok
    fi ;;
  transfers)
    if [ -e "$data/transfers-pending" ]; then
      echo "$(q "$node") waiting to handoff $(cat "$data/transfers-pending") partitions"
    else
      echo "No transfers active"
    fi
    echo
    echo "Active Transfers:"
    echo
    echo ok ;;
  # The node is a devnode, whose riak admin prints Riak's tables and
  # riak_kv_console's bucket-type texts.
  member-status|aae-status|"bucket-type "*)
    exec "$FAKE_RIAK_RMF" devnode admin --pb "$(get listener.protobuf.internal)" "$@" ;;
  *) echo "Usage: riak-admin { cluster | join | leave | ... }"; exit 1 ;;
  esac ;;
*) echo "unknown command $1" >&2; exit 1 ;;
esac
