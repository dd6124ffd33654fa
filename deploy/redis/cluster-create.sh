#!/bin/sh
# The one-shot job `redis-cluster-create` of the Compose profile `cluster`: joins the six nodes into a
# Redis Cluster of three masters with one replica each, once.
#
#   CLUSTER_NODES     the nodes as "host:port host:port ..." (their fixed addresses: CLUSTER MEET
#                     wants IP addresses, and addresses that never change keep each node's nodes.conf
#                     valid across restarts)
#   CLUSTER_REPLICAS  replicas per master (1)
#   CLUSTER_WAIT_S    how long to wait for every node to answer, and then for the cluster to be ok (60)
#
# Idempotent: when the first node already serves all 16384 slots the cluster exists (a restart of
# the stack, or a second `up`), and the job exits 0 without touching it. Any other failure exits
# non-zero, so that the services waiting for this job do not start on a broken cluster.
set -eu

nodes=${CLUSTER_NODES:?CLUSTER_NODES is not set}
replicas=${CLUSTER_REPLICAS:-1}
wait_s=${CLUSTER_WAIT_S:-60}

host_of() { echo "${1%:*}"; }
port_of() { echo "${1##*:}"; }

# Every node must answer before the cluster can be made: Compose starts this job once the nodes'
# health checks pass, but a node restarted meanwhile would make `--cluster create` fail half-way.
for node in $nodes; do
    tries=0
    until [ "$(redis-cli -h "$(host_of "$node")" -p "$(port_of "$node")" PING 2>/dev/null)" = PONG ]; do
        tries=$((tries + 1))
        if [ "$tries" -gt "$wait_s" ]; then
            echo "cluster-create: $node does not answer PING" >&2
            exit 1
        fi
        sleep 1
    done
done

first=${nodes%% *}
assigned=$(redis-cli -h "$(host_of "$first")" -p "$(port_of "$first")" CLUSTER INFO |
    sed -n 's/^cluster_slots_assigned:\([0-9]*\).*/\1/p')
if [ "$assigned" = 16384 ]; then
    echo "cluster-create: the cluster exists already (all 16384 slots assigned); nothing to do"
    exit 0
fi

# shellcheck disable=SC2086 # one argument per node
redis-cli --cluster create $nodes --cluster-replicas "$replicas" --cluster-yes

# The nodes agree on the new configuration through their gossip: wait until every one says ok.
for node in $nodes; do
    tries=0
    until redis-cli -h "$(host_of "$node")" -p "$(port_of "$node")" CLUSTER INFO | grep -q '^cluster_state:ok'; do
        tries=$((tries + 1))
        if [ "$tries" -gt "$wait_s" ]; then
            echo "cluster-create: $node does not report cluster_state:ok" >&2
            exit 1
        fi
        sleep 1
    done
done
echo "cluster-create: the cluster is ok"
