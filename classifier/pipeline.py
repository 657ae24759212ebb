"""The scikit-learn Pipeline factories: one object from raw message text to label.

Each candidate is a named recipe so that `train --candidate NAME` and the comparison in
classifier/README.md talk about the same thing. `DEFAULT` is the one `train` ships.
"""

from __future__ import annotations

from typing import Callable

from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from classifier.calibration import SoftmaxCalibratedSVC, TwoStageClassifier
from classifier.cues import GrievanceCues
from classifier.text import char_text, normalize, tokenize

SEED = 20261125


class CompactTfidfVectorizer(TfidfVectorizer):
    """A TfidfVectorizer that saves its vocabulary as one string, not a dict of 100k entries.

    skops writes a dict item by item: the full vocabulary made a 200 MB file that took a minute
    to save and 12 s to load. As one newline-joined string in index order it is a few hundred KB
    and rebuilds in milliseconds. `stop_words_` (the terms pruned by min_df) is only there for
    inspection; scikit-learn documents that it can be dropped before saving.
    """

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("stop_words_", None)
        vocab = state.pop("vocabulary_", None)
        if vocab is not None:
            terms = [None] * len(vocab)
            for term, index in vocab.items():
                terms[index] = term
            if any("\n" in term for term in terms):
                raise ValueError("a vocabulary term contains a newline; normalization should have removed it")
            state["vocabulary_terms_"] = "\n".join(terms)
        return state

    def __setstate__(self, state):
        state = dict(state)
        joined = state.pop("vocabulary_terms_", None)
        super().__setstate__(state)
        if joined is not None:
            self.vocabulary_ = {term: i for i, term in enumerate(joined.split("\n"))}


def normalize_chars(text: str) -> str:
    """Preprocessor of the character n-gram branch: normalized text, digits folded."""
    return char_text(normalize(text))


def word_features(max_features: int | None = None) -> TfidfVectorizer:
    return CompactTfidfVectorizer(
        max_features=max_features,
        preprocessor=normalize,
        tokenizer=tokenize,
        token_pattern=None,
        lowercase=False,
        ngram_range=(1, 2),
        sublinear_tf=True,
        min_df=2,
    )


def char_features(max_features: int = 200_000) -> TfidfVectorizer:
    return CompactTfidfVectorizer(
        preprocessor=normalize_chars,
        analyzer="char",
        lowercase=False,
        ngram_range=(1, 3),
        sublinear_tf=True,
        min_df=2,
        max_features=max_features,
    )


def word_and_char() -> FeatureUnion:
    return FeatureUnion([("words", word_features()), ("chars", char_features())])


def _logreg(c: float = 20.0) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=SEED)


def word_lr() -> Pipeline:
    """Word 1-2-grams, multinomial logistic regression."""
    return Pipeline([("features", word_features()), ("model", _logreg())])


def word_char_lr() -> Pipeline:
    """Word 1-2-grams + character 1-3-grams, multinomial logistic regression."""
    return Pipeline([("features", word_and_char()), ("model", _logreg())])


def word_char_lr_calibrated() -> Pipeline:
    """Word + character n-grams, logistic regression with sigmoid calibration (5-fold).

    ensemble=False: one model fitted on all data, calibrated on cross-validated scores, so the
    saved file holds one coefficient matrix rather than five.
    """
    model = CalibratedClassifierCV(_logreg(), method="sigmoid", cv=5, ensemble=False)
    return Pipeline([("features", word_and_char()), ("model", model)])


def word_char_svc_calibrated() -> Pipeline:
    """Word + character n-grams, linear SVM with sigmoid calibration (5-fold).

    ensemble=False: one model fitted on all data, calibrated on cross-validated scores, so the
    saved file holds one coefficient matrix rather than five.
    """
    svc = LinearSVC(C=0.5, class_weight="balanced", random_state=SEED)
    model = CalibratedClassifierCV(svc, method="sigmoid", cv=5, ensemble=False)
    return Pipeline([("features", word_and_char()), ("model", model)])


def word_char_sgd_calibrated() -> Pipeline:
    """Word + character n-grams, SGD (modified Huber) with sigmoid calibration (5-fold).

    ensemble=False: one model fitted on all data, calibrated on cross-validated scores, so the
    saved file holds one coefficient matrix rather than five.
    """
    sgd = SGDClassifier(loss="modified_huber", alpha=2e-5, class_weight="balanced",
                        max_iter=50, tol=None, random_state=SEED)
    model = CalibratedClassifierCV(sgd, method="sigmoid", cv=5, ensemble=False)
    return Pipeline([("features", word_and_char()), ("model", model)])


def word_char_svc_softmax() -> Pipeline:
    """Word + character n-grams, linear SVM whose margins go through a temperature-fitted softmax."""
    model = SoftmaxCalibratedSVC(C=0.5, cv=5, random_state=SEED)
    return Pipeline([("features", word_and_char()), ("model", model)])


def word_char_two_stage() -> Pipeline:
    """Word + character n-grams; a calibrated complaint detector, then a calibrated categorizer."""
    return Pipeline([("features", word_and_char()), ("model", TwoStageClassifier(random_state=SEED))])


def word_char_cues() -> FeatureUnion:
    # The 60,000 most frequent word n-grams and 100,000 character n-grams: the real-text check and
    # the fixed split score the same as with all of them (111,710 + 200,000), and the model file
    # is half the size, which is most of its load time.
    return FeatureUnion([("words", word_features(60_000)), ("chars", char_features(100_000)),
                         ("cues", GrievanceCues())])


def word_char_cues_two_stage() -> Pipeline:
    """Two stages over word + character n-grams plus the grievance cues of classifier/cues.py."""
    return Pipeline([("features", word_char_cues()), ("model", TwoStageClassifier(random_state=SEED))])


CANDIDATES: dict[str, Callable[[], Pipeline]] = {
    "word-lr": word_lr,
    "word+char-lr": word_char_lr,
    "word+char-lr-cal": word_char_lr_calibrated,
    "word+char-svc-cal": word_char_svc_calibrated,
    "word+char-sgd-cal": word_char_sgd_calibrated,
    "word+char-svc-softmax": word_char_svc_softmax,
    "word+char-two-stage": word_char_two_stage,
    "word+char+cues-two-stage": word_char_cues_two_stage,
}
DEFAULT = "word+char+cues-two-stage"


def build(name: str = DEFAULT) -> Pipeline:
    try:
        return CANDIDATES[name]()
    except KeyError:
        raise ValueError(f"unknown candidate {name!r}; choose one of {', '.join(CANDIDATES)}") from None
