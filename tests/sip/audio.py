"""Tones for softphones to send, and a Goertzel filter to tell which tone was received."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 8000


def write_tone(path: Path, frequency: float, seconds: float = 30.0) -> Path:
    """A sine tone at 8 kHz, 16-bit mono: a softphone's microphone (baresip ``aufile``)."""
    return write_samples(
        path,
        [
            int(8000 * math.sin(2 * math.pi * frequency * i / RATE))
            for i in range(int(RATE * seconds))
        ],
    )


def write_samples(path: Path, samples: list[int]) -> Path:
    """16-bit mono samples at 8 kHz as a WAV file (what :func:`tone_seconds` reads)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


def _ulaw(byte: int) -> int:
    inverted = ~byte & 0xFF
    exponent, mantissa = (inverted >> 4) & 0x07, inverted & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -magnitude if inverted & 0x80 else magnitude


_ULAW = tuple(_ulaw(byte) for byte in range(256))


def decode_ulaw(payload: bytes) -> list[int]:
    """G.711 µ-law (PCMU, RTP payload type 0) to 16-bit linear samples."""
    return [_ULAW[byte] for byte in payload]


def read_samples(path: Path) -> tuple[int, list[float]]:
    with wave.open(str(path), "rb") as recording:
        rate, channels = recording.getframerate(), recording.getnchannels()
        frames = recording.readframes(recording.getnframes())
    values = struct.unpack(f"<{len(frames) // 2}h", frames)
    return rate, [float(v) for v in values[::channels]]


def goertzel_power(samples: list[float], rate: int, frequency: float) -> float:
    """The signal's power at one frequency (one DFT bin, computed without an FFT)."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    previous = before = 0.0
    for sample in samples:
        previous, before = sample + coefficient * previous - before, previous
    return previous * previous + before * before - coefficient * previous * before


def tone_seconds(
    path: Path,
    frequency: float,
    others: tuple[float, ...],
    last_seconds: float | None = None,
    quietest: float = 1000,
) -> float:
    """How many seconds of the recording (or of its last ``last_seconds``) carry ``frequency``
    well above every other tone and above silence: 100 ms windows whose power at it is 10x
    each other frequency's. ``quietest``: the amplitude below which a window is silence (1/8
    of the amplitude the tones are sent with)."""
    rate, samples = read_samples(path)
    if last_seconds is not None:
        samples = samples[-int(rate * last_seconds) :]
    window = rate // 10
    found = 0
    for start in range(0, len(samples) - window + 1, window):
        chunk = samples[start : start + window]
        wanted = goertzel_power(chunk, rate, frequency)
        energy = sum(s * s for s in chunk)
        if energy < window * quietest**2 / 2:
            continue  # quieter than a tone at that amplitude: silence or noise
        if all(wanted > 10 * goertzel_power(chunk, rate, other) for other in others):
            found += 1
    return found / 10
