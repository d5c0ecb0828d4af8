"""The go_emotions label set: names and order exactly as in the dataset.

`SamLowe/roberta-base-go_emotions` uses this order for its 28 sigmoid outputs; the
bundled data, the tiny model and the default model all follow it.
"""

from __future__ import annotations

GO_EMOTIONS_LABELS: tuple[str, ...] = (
    "admiration",
    "amusement",
    "anger",
    "annoyance",
    "approval",
    "caring",
    "confusion",
    "curiosity",
    "desire",
    "disappointment",
    "disapproval",
    "disgust",
    "embarrassment",
    "excitement",
    "fear",
    "gratitude",
    "grief",
    "joy",
    "love",
    "nervousness",
    "optimism",
    "pride",
    "realization",
    "relief",
    "remorse",
    "sadness",
    "surprise",
    "neutral",
)

assert len(GO_EMOTIONS_LABELS) == 28
