"""Asks WattBus questions over MQTT (request/response) and prints the answers.

Usage: python3 request.py HOST PORT PASSWORD
PASSWORD: the `client` account of `npm start` (data/mqtt-client.password). That account reads
only wattbus/replies/<its client id>/, so every reply_to names CLIENT_ID.
"""
import json
import socket
import sys
import threading
import uuid

import paho.mqtt.client as mqtt

host, port, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
CLIENT_ID = "my-python-app"
REPLIES = f"wattbus/replies/{CLIENT_ID}"
TIMEOUT_S = 5

ready = threading.Event()  # set once the reply subscription is in place
waiting = {}  # request id -> {"done": Event, "response": dict}


class RequestError(Exception):
    def __init__(self, error):
        super().__init__(f"{error['code']}: {error['message']}")
        self.code = error["code"]


def on_connect(client, userdata, flags, rc):
    if rc != 0:
        sys.exit(f"connection refused: {mqtt.connack_string(rc)}")
    client.subscribe(f"{REPLIES}/#", qos=1)


def on_subscribe(client, userdata, mid, granted_qos):
    if granted_qos[0] == 128:
        sys.exit(f"the broker refused {REPLIES}/#: connect with client id {CLIENT_ID}")
    ready.set()


def on_message(client, userdata, message):
    response = json.loads(message.payload)
    request = waiting.get(response["id"])
    if request is None:
        return  # an answer nobody waits for any more (it came after the timeout)
    request["response"] = response
    request["done"].set()


def on_socket_open(client, userdata, sock):
    # Without this, each request waits ~40 ms for a delayed ACK (Nagle): 0.6 ms instead of 44 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def request(client, topic, params):
    """Publishes a request envelope and waits for the answer with the same id."""
    request_id = str(uuid.uuid4())
    waiting[request_id] = {"done": threading.Event()}
    envelope = {"id": request_id, "reply_to": f"{REPLIES}/{request_id}", "params": params}
    client.publish(topic, json.dumps(envelope), qos=1)
    answered = waiting[request_id]["done"].wait(TIMEOUT_S)
    response = waiting.pop(request_id).get("response")
    if not answered:
        raise TimeoutError(f"no answer on {topic} within {TIMEOUT_S} s")
    if not response["ok"]:
        raise RequestError(response["error"])
    return response["result"]


if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2 asks which callback signatures we use
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id=CLIENT_ID)
else:  # paho-mqtt 1.x (Debian's python3-paho-mqtt)
    client = mqtt.Client(client_id=CLIENT_ID)
client.username_pw_set("client", password)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.on_socket_open = on_socket_open
client.connect(host, port)
client.loop_start()  # the network runs in its own thread; request() waits in this one
if not ready.wait(TIMEOUT_S):
    sys.exit("could not subscribe to the replies")

devices = request(client, "wattbus/query/req/devices", {})["devices"]
print(f"{len(devices)} devices: {', '.join(device['id'] for device in devices)}")

latest = request(client, "wattbus/query/req/latest", {"devices": [device["id"] for device in devices]})
for entry in latest["devices"]:
    if entry["reading"] is not None:
        print(f"{entry['device']}: {entry['reading']['power_w']} W")

try:
    request(client, "wattbus/query/req/latest", {"devices": ["no-such-device"]})
except RequestError as error:
    print(f"refused as expected: {error}")

client.loop_stop()
client.disconnect()
