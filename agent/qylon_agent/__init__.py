"""Qylon's on-device part: capture, transcription, speakers, insights, local store."""

__version__ = "0.1.0"
