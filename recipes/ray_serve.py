"""Serving voicestack on more than one machine with Ray Serve (a recipe, not imported by tests).

One machine runs `voicestack serve`. When you outgrow it, do not build a cluster: wrap the
same ASGI app in a Ray Serve deployment and let Ray place replicas across nodes, route
requests and scale on load. Each replica is a whole voicestack service (its own voice
pool, byte budget, worker threads and /metrics), so everything in docs/service.md holds
per replica.

    pip install "ray[serve]" 'voicestack[serve]'
    serve run recipes.ray_serve:app          # or: python recipes/ray_serve.py

Streaming works through Ray Serve's HTTP proxy (chunked responses are forwarded as
produced). Keep ``max_ongoing_requests`` near the service's ``max_active_streams`` so Ray
queues and spreads load before a replica answers 503.
"""

from __future__ import annotations

from ray import serve  # type: ignore[import-not-found]

from voicestack.service import ServiceConfig, create_app

CONFIG = ServiceConfig(workers=2, max_active_streams=8, max_queue=8, memory_budget_bytes=1_500_000_000)


def build_app():  # type: ignore[no-untyped-def]
    """Runs on each replica: the service (threads, voices) is made there, never pickled."""
    return create_app(CONFIG)


@serve.deployment(num_replicas=2, ray_actor_options={"num_cpus": 2}, max_ongoing_requests=8)
@serve.ingress(build_app)
class VoiceService:
    """A replica: one voicestack service (voices load on demand inside it)."""


app = VoiceService.bind()

if __name__ == "__main__":
    serve.run(app, route_prefix="/")
    import time

    while True:  # keep the driver alive; Ctrl-C to stop
        time.sleep(3600)
