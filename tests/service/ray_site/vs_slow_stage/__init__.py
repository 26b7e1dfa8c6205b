"""A test plugin for the Ray Serve tests: a stage that waits per chunk, so a stream is still
being computed while the client reads its first bytes. Replicas are separate processes, so
it registers the way any third-party block does there: through its entry point."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicestack.components.effects import AudioEffect


@dataclass(frozen=True)
class SlowChunksParams:
    seconds: float = 0.01


class SlowChunks(AudioEffect):
    """Waits ``seconds`` per chunk (a stand-in for a heavy network)."""

    type_name = "SlowChunks"
    Params = SlowChunksParams

    def apply(self, audio: np.ndarray, request: Any) -> np.ndarray:
        time.sleep(self.params.seconds)
        return audio
