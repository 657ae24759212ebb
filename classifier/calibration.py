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
        margins = cross_val_predict(self._svc(), X, y, cv=folds, method="decision_function")
        target = np.searchsorted(self.classes_, y)

        def log_loss(scale: float) -> float:
            return -log_softmax(margins * scale, axis=1)[np.arange(len(y)), target].mean()

        self.scale_ = float(minimize_scalar(log_loss, bounds=(0.01, 100.0), method="bounded").x)
        self.svc_ = self._svc().fit(X, y)
        return self

    def decision_function(self, X):
        return self.svc_.decision_function(X)

    def predict_proba(self, X):
        return softmax(self.decision_function(X) * self.scale_, axis=1)

    def predict(self, X):
        return self.classes_[self.decision_function(X).argmax(axis=1)]
