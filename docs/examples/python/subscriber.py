"""A WattBus hook in Python: prints every device's power as it arrives.

Usage: python3 subscriber.py HOST PORT USER PASSWORD [COUNT]
USER/PASSWORD: the `hook` account of `npm start` (password in data/mqtt-hook.password).
COUNT: stop after this many readings (default: run until Ctrl-C).
"""
import json
import socket
import sys

import paho.mqtt.client as mqtt

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
count = int(sys.argv[5]) if len(sys.argv) > 5 else None

names = {}  # device id -> name, from the retained meta
seen = 0


def on_connect(client, userdata, flags, rc):
    if rc != 0:
        sys.exit(f"connection refused: {mqtt.connack_string(rc)}")
    # Meta is retained: it arrives at once for every device, then on every change.
    client.subscribe([("wattbus/devices/+/meta", 1), ("wattbus/devices/+/readings", 1)])


def on_message(client, userdata, message):
    global seen
    if count is not None and seen >= count:
        return  # stopping: what is still in flight is not printed
    device = message.topic.split("/")[2]
    payload = json.loads(message.payload)
    if message.topic.endswith("/meta"):
        names[device] = payload["name"]
        return
    # A 3-phase meter publishes one reading per phase (with `phase`: L1, L2, L3) and one total
    # (without `phase`) on the same topic: add up only the totals, or only the phases.
    phase = f" {payload['phase']}" if "phase" in payload else ""
    print(f"{device} ({names.get(device, '?')}){phase}: {payload['power_w']} W at {payload['ts']}", flush=True)
    seen += 1
    if count is not None and seen >= count:
        client.disconnect()


def on_socket_open(client, userdata, sock):
    # Small MQTT packets wait ~40 ms for a delayed ACK under Nagle's algorithm: switch it off.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2 asks which callback signatures we use
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1)
else:  # paho-mqtt 1.x (Debian's python3-paho-mqtt)
    client = mqtt.Client()
client.username_pw_set(user, password)
client.on_connect = on_connect
client.on_message = on_message
client.on_socket_open = on_socket_open
client.connect(host, port)
client.loop_forever()
