"""Recording, the pipeline's first stage: devices, capture to a crash-safe WAV, recovery,
noticing when a meeting application takes the microphone, and the live transcript."""
