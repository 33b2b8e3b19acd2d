"""The ingest hook of the hub's lifespan (see api/services.py): the pipeline, and the MQTT
subscriber when ``[mqtt] enabled``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from api.ingest.mqtt_subscriber import MqttSubscriber
from api.ingest.pipeline import IngestPipeline

if TYPE_CHECKING:
    from api.services import HubServices

__all__ = ["open_ingest"]


@asynccontextmanager
async def open_ingest(services: HubServices) -> AsyncIterator[IngestPipeline]:
    settings = services.settings
    pipeline = IngestPipeline(services.telemetry, services.incidents, services.metrics,
                              settings.ingest)
    subscriber: MqttSubscriber | None = None
    if settings.mqtt.enabled:
        subscriber = MqttSubscriber(settings.mqtt, settings.ingest, pipeline, services.metrics)
        await subscriber.start()
        pipeline.subscriber = subscriber
    try:
        yield pipeline
    finally:
        if subscriber is not None:
            await subscriber.stop()
