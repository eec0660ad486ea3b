#!/usr/bin/env bash
# Writes a local copy of mosquitto/mosquitto.conf with another port and state directory.
# usage: scripts/broker_conf.sh PORT STATE_DIR > file.conf
set -euo pipefail
port=$1
state=$2
mkdir -p "$state"
here=$(cd "$(dirname "$0")/.." && pwd)
sed -e "s|^listener 1883$|listener $port 127.0.0.1|" \
    -e "s|^persistence_location .*|persistence_location $state/|" \
    -e "s|^log_dest stdout$|log_dest file $state/mosquitto.log|" \
    "$here/mosquitto/mosquitto.conf"
# Run as the invoking user (as root, Mosquitto would otherwise switch to "mosquitto" and lose
# access to the state directory).
echo "user $(id -un)"
