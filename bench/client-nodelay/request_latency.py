"""Request/response latency of a paho-mqtt client against `npm start`, with and without TCP_NODELAY.

Usage: python3 bench/client-nodelay/request_latency.py HOST PORT CLIENT_PASSWORD [REQUESTS]
(CLIENT_PASSWORD: data/mqtt-client.password). Sends `devices` queries one after another, first
with Nagle's algorithm on (paho's default), then with TCP_NODELAY, and prints the median and p90.
"""
import json
import socket
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt

host, port, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
requests = int(sys.argv[4]) if len(sys.argv) > 4 else 100


def measure(nodelay):
    client_id = f"bench-nodelay-{'on' if nodelay else 'off'}"
    answered, subscribed = threading.Event(), threading.Event()
    client = mqtt.Client(client_id=client_id)
    client.username_pw_set("client", password)
    if nodelay:
        client.on_socket_open = lambda c, u, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.on_connect = lambda c, u, flags, rc: c.subscribe(f"wattbus/replies/{client_id}/#", 1)
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_message = lambda c, u, message: answered.set()
    client.connect(host, port)
    client.loop_start()
    subscribed.wait(5)
    times = []
    for _ in range(requests):
        answered.clear()
        request_id = str(uuid.uuid4())
        envelope = {"id": request_id, "reply_to": f"wattbus/replies/{client_id}/{request_id}", "params": {}}
        start = time.perf_counter()
        client.publish("wattbus/query/req/devices", json.dumps(envelope), qos=1)
        if not answered.wait(5):
            sys.exit("no answer within 5 s")
        times.append((time.perf_counter() - start) * 1000)
    client.loop_stop()
    client.disconnect()
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.9)]


for nodelay in (False, True):
    median, p90 = measure(nodelay)
    print(f"TCP_NODELAY {'on ' if nodelay else 'off'}: median {median:.2f} ms, p90 {p90:.2f} ms ({requests} requests)")
