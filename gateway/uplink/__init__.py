"""The uplink to the hub (docs/uplink.md).

- ``wire``: the batch and ack wire form (pure).
- ``settings``: ``UplinkSettings`` from the ``[uplink]`` table.
- ``backoff``: exponential backoff with jitter.
- ``mqtt_uplink``: ``MqttUplink`` (paho-mqtt, QoS 1, persistent session, ack topic).
- ``http_uplink``: ``HttpUplink`` (POST /api/v1/ingest, gzip, bearer token).

Import the module you need; this package imports nothing so that ``gateway.buffer``
can use ``wire`` without pulling in paho.
"""
