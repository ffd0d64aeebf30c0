"""Speech, the second stage: decoding audio, transcription, diarization (embeddings and
clustering), voice profiles, and who said each word with their names."""
