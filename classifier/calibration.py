"""A linear SVM whose margins become probabilities through a softmax with a fitted temperature.

Sigmoid calibration per class (CalibratedClassifierCV) followed by renormalization left the
model underconfident: messages it gave 0.85 were right 95% of the time. Here the margins of all
classes go through one softmax, and its temperature is chosen to minimize the log loss of
out-of-fold margins on the training data, so a confidence of 0.8 means right about 8 times in 10.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC


def _two_columns(margins: np.ndarray) -> np.ndarray:
    """A binary SVM's single margin (for classes_[1]) as two columns, so one softmax fits both cases."""
    if margins.ndim == 1:
        return np.column_stack([np.zeros_like(margins), margins])
    return margins


class SoftmaxCalibratedSVC(ClassifierMixin, BaseEstimator):
    def __init__(self, C: float = 0.5, cv: int = 5, class_weight="balanced", random_state: int = 0):
        self.C = C
        self.cv = cv
        self.class_weight = class_weight
        self.random_state = random_state

    def _svc(self) -> LinearSVC:
        return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)

    def fit(self, X, y):
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        margins = _two_columns(cross_val_predict(self._svc(), X, y, cv=folds, method="decision_function"))
        target = np.searchsorted(self.classes_, y)

        def log_loss(scale: float) -> float:
            return -log_softmax(margins * scale, axis=1)[np.arange(len(y)), target].mean()

        self.scale_ = float(minimize_scalar(log_loss, bounds=(0.01, 100.0), method="bounded").x)
        svc = self._svc().fit(X, y)
        # Only the weights are kept, in float32: the saved file is half the size and loads twice
        # as fast, and margins change in the 7th digit.
        self.coef_ = np.ascontiguousarray(svc.coef_, dtype=np.float32)
        self.intercept_ = np.asarray(svc.intercept_, dtype=np.float32)
        return self

    def decision_function(self, X):
        if not hasattr(self, "coef_"):  # a model saved before the weights were kept on their own
            return _two_columns(self.svc_.decision_function(X))
        # The features go to float32 rather than the weights to float64: a copy of a few hundred
        # non-zeros per message instead of one of the whole weight matrix per batch. The weights
        # are multiplied in the (features x classes) order scipy wants, kept once per loaded model:
        # `X @ coef_.T` copied the whole matrix on every call (4 ms for a single message).
        margins = np.asarray(X.astype(np.float32) @ self._weights_by_feature(), dtype=np.float64) + self.intercept_
        return _two_columns(margins[:, 0] if margins.shape[1] == 1 else margins)

    def _weights_by_feature(self):
        cached = self.__dict__.get("_coef_by_feature")
        if cached is None or cached.shape[::-1] != self.coef_.shape:
            cached = self.__dict__["_coef_by_feature"] = np.ascontiguousarray(self.coef_.T)
        return cached

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_coef_by_feature", None)  # a cache of coef_: never saved
        return dict(state)

    def predict_proba(self, X):
        return softmax(self.decision_function(X) * self.scale_, axis=1)

    def predict(self, X):
        return self.classes_[self.decision_function(X).argmax(axis=1)]


class TwoStageClassifier(ClassifierMixin, BaseEstimator):
    """First "is this a complaint at all?", then "which category?", each a calibrated SVM.

    The detector is trained on every example (complaint vs `none`); the categorizer only on
    complaints, so the mass of real non-complaints in training shapes the first decision and
    cannot blur the categories. The probability of category k is P(complaint) * P(k | complaint),
    and `none` gets 1 - P(complaint): a label's confidence is the chance that it is that
    complaint, and it can only be high when both stages are sure.
    """

    def __init__(self, none_label: str = "none", C_detect: float = 0.5, C_category: float = 0.5,
                 cv: int = 5, random_state: int = 0):
        self.none_label = none_label
        self.C_detect = C_detect
        self.C_category = C_category
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y):
        y = np.asarray(y).astype(str)
        self.classes_ = np.unique(y)
        is_complaint = y != self.none_label
        self.detector_ = SoftmaxCalibratedSVC(C=self.C_detect, cv=self.cv,
                                              random_state=self.random_state)
        self.detector_.fit(X, np.where(is_complaint, "complaint", self.none_label))
        self.categorizer_ = SoftmaxCalibratedSVC(C=self.C_category, cv=self.cv,
                                                 random_state=self.random_state)
        self.categorizer_.fit(X[is_complaint], y[is_complaint])
        return self

    def predict_proba(self, X):
        detected = self.detector_.predict_proba(X)
        p_complaint = detected[:, list(self.detector_.classes_).index("complaint")]
        categories = self.categorizer_.predict_proba(X)
        out = np.zeros((detected.shape[0], len(self.classes_)))
        out[:, list(self.classes_).index(self.none_label)] = 1.0 - p_complaint
        columns = np.searchsorted(self.classes_, self.categorizer_.classes_)
        out[:, columns] = categories * p_complaint[:, None]
        return out

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
