"""Signal processing shared by mel models and vocoders (numpy only)."""

from voicestack.dsp.mel import MelSettings, log_mel, mel_filterbank

__all__ = ["MelSettings", "log_mel", "mel_filterbank"]
