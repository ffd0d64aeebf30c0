"""Convert Resemblyzer's pretrained GE2E speaker encoder into the NumPy weights qylon-agent ships.

qylon-agent runs the encoder in NumPy (no PyTorch at run time). The pretrained
weights come from the `resemblyzer` 0.1.4 wheel (Apache-2.0, Corentin Jemine,
https://github.com/resemble-ai/Resemblyzer), file `resemblyzer/pretrained.pt`,
a torch checkpoint. This script reads it once, in a throwaway virtual
environment OUTSIDE the repository, and writes
agent/qylon_agent/speech/voice_encoder/ge2e.npz with the LSTM and linear tensors plus
librosa's 40-band mel filter bank (so the agent needs neither torch nor librosa):

    python3 -m venv /tmp/conv && /tmp/conv/bin/pip install torch==2.13.0 librosa==0.11.0 numpy
    /tmp/conv/bin/pip download resemblyzer==0.1.4 --no-deps -d /tmp/conv
    cd /tmp/conv && unzip -o Resemblyzer-0.1.4-py3-none-any.whl 'resemblyzer/*'
    /tmp/conv/bin/python scripts/convert_voice_encoder.py /tmp/conv/resemblyzer/pretrained.pt \
        agent/qylon_agent/speech/voice_encoder/ge2e.npz

With ``--verify WAV...`` (needs resemblyzer's own dependencies: webrtcvad,
scipy, setuptools<81) it also embeds each file with resemblyzer's torch
VoiceEncoder and with qylon-agent's NumPy encoder and prints the cosine
similarity of the two (1.0000 expected).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np


def convert(checkpoint: Path, out: Path) -> None:
    import librosa
    import torch

    state = torch.load(checkpoint, map_location="cpu")["model_state"]
    arrays = {}
    for layer in range(3):
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            arrays[f"lstm_{kind}_l{layer}"] = (
                state[f"lstm.{kind}_l{layer}"].numpy().astype(np.float32)
            )
    arrays["linear_weight"] = state["linear.weight"].numpy().astype(np.float32)
    arrays["linear_bias"] = state["linear.bias"].numpy().astype(np.float32)
    # Resemblyzer's wav_to_mel_spectrogram: librosa defaults, n_fft 400, hop 160, 40 mels.
    arrays["mel_basis"] = librosa.filters.mel(sr=16000, n_fft=400, n_mels=40).astype(np.float32)
    arrays["source_sha256"] = np.frombuffer(
        hashlib.sha256(checkpoint.read_bytes()).hexdigest().encode(), dtype=np.uint8
    )
    np.savez_compressed(out, **arrays)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


def verify(out: Path, wavs: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
    from qylon_agent.speech.embeddings import VoiceEncoder as NumpyEncoder
    from resemblyzer import VoiceEncoder, preprocess_wav

    torch_enc = VoiceEncoder("cpu", verbose=False)
    np_enc = NumpyEncoder(out)
    for path in wavs:
        wav = preprocess_wav(Path(path))
        a = torch_enc.embed_utterance(wav)
        b = np_enc.embed_utterance(wav)
        print(
            f"{path}: cosine(torch, numpy) = {float(a @ b):.6f}, max abs diff = {np.abs(a - b).max():.2e}"
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    checkpoint, out = Path(args[0]), Path(args[1])
    convert(checkpoint, out)
    if "--verify" in args:
        verify(out, args[args.index("--verify") + 1 :])
