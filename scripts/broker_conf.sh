#!/usr/bin/env bash
# Writes a local copy of mosquitto/mosquitto.conf with another port and other file locations.
# usage: scripts/broker_conf.sh PORT STATE_DIR [AUTH_DIR | --anonymous] > file.conf
#   AUTH_DIR     where `amb-admin broker-auth` wrote passwd and acl (default: STATE_DIR/auth)
#   --anonymous  no authentication (only for tests that are not about it)
set -euo pipefail
port=$1
state=$2
auth=${3:-$state/auth}
mkdir -p "$state"
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$auth" = "--anonymous" ]; then
  auth_rules=(-e "s|^allow_anonymous false$|allow_anonymous true|" -e "/^password_file /d" -e "/^acl_file /d")
else
  auth_rules=(-e "s|^password_file .*|password_file $auth/passwd|" -e "s|^acl_file .*|acl_file $auth/acl|")
fi
sed -e "s|^listener 1883$|listener $port 127.0.0.1|" \
    -e "s|^persistence_location .*|persistence_location $state/|" \
    -e "s|^log_dest stdout$|log_dest file $state/mosquitto.log|" \
    "${auth_rules[@]}" \
    "$here/mosquitto/mosquitto.conf"
# Run as the invoking user (as root, Mosquitto would otherwise switch to "mosquitto" and lose
# access to the state directory).
echo "user $(id -un)"
