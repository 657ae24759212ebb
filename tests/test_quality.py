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



# --- The real-text check (classifier/data/real/check.jsonl), at the shipped config's thresholds ---
# Text of kinds the model was never trained on behaves differently from the fixed split; these
# floors are what a district feels. Measured when set: 0.16% flagged, 0.02% at auto_ticket,
# 99.2% of held-out real hotline complaints raised, 94.0% in the right category, ECE 0.015.
REAL_FLAGGED_CEILING = 0.01        # the target: at most 1 in 100 chit-chat lines raised
REAL_FLAGGED_AUTO_CEILING = 0.002  # and at most 1 in 500 made into a ticket with nobody asked
REAL_DETECTED_FLOOR = 0.95
REAL_RIGHT_CATEGORY_FLOOR = 0.90
REAL_ECE_CEILING = 0.05


@pytest.fixture(scope="module")
def real_check(shipped):
    import yaml

    from classifier.corpus import REAL_CHECK, ROOT, read_examples
    from classifier.realcheck import check_model

    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    thresholds = config["classifier"]["ignore_below"], config["classifier"]["auto_ticket"]
    return check_model(shipped.model, read_examples(REAL_CHECK), *thresholds)


def test_real_chit_chat_is_rarely_raised_at_the_configured_ignore_below(real_check):
    for source, figures in real_check["sources"].items():
        if figures["non_complaints"]:
            assert figures["flagged"] <= REAL_FLAGGED_CEILING, source
    assert real_check["all"]["flagged"] <= REAL_FLAGGED_CEILING


def test_real_chit_chat_almost_never_becomes_a_ticket_by_itself(real_check):
    assert real_check["all"]["flagged_auto"] <= REAL_FLAGGED_AUTO_CEILING


def test_real_complaints_are_raised_and_mostly_in_the_right_category(real_check):
    assert real_check["all"]["detected"] >= REAL_DETECTED_FLOOR
    assert real_check["all"]["right_category"] >= REAL_RIGHT_CATEGORY_FLOOR


def test_confidence_stays_honest_on_real_text(real_check):
    assert real_check["ece"] <= REAL_ECE_CEILING
