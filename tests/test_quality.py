"""Quality floor: the default recipe trained on the shipped corpus, scored on the fixed evaluation split.

Fails when a change to the code, the dictionary or the data makes the model worse than the floor.
The floors sit a little under the figures measured when they were set (see classifier/README.md).
"""

from __future__ import annotations

import pytest

DETECTION_F1_FLOOR = 0.96
CATEGORY_MACRO_F1_FLOOR = 0.93
ECE_CEILING = 0.06
CATEGORY_F1_FLOOR = 0.75


@pytest.fixture(scope="module")
def shipped(shipped_models):
    return shipped_models[1]


def test_detection_f1_is_above_the_floor(shipped):
    assert shipped.metrics["detection"]["f1"] >= DETECTION_F1_FLOOR


def test_category_macro_f1_is_above_the_floor(shipped):
    assert shipped.metrics["category_macro_f1"] >= CATEGORY_MACRO_F1_FLOOR


def test_confidence_is_calibrated(shipped):
    assert shipped.metrics["ece"] <= ECE_CEILING


def test_every_category_is_learned(shipped):
    weak = {k: round(v["f1"], 3) for k, v in shipped.metrics["per_label"].items() if v["f1"] < CATEGORY_F1_FLOOR}
    assert not weak

