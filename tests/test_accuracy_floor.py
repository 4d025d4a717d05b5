"""Regression floor for the shipped model on a stratified, seeded sample of 700 FER2013 val faces.

The shipped CPU-trained model scores 67.4% on this sample (66.7% on all 3,589 val faces). The
foundation issue asks for a 70% floor, which needs the GPU-trained model that is still to come: the
floor guards against regressions 3.4 points below today's figure until then."""

import numpy as np

from model import EmotionClassifier
from training.data import stratified_sample
from training.metrics import classification_report

FLOOR = 0.64


def test_shipped_model_accuracy_floor(fer2013):
    x, y = fer2013["val"]
    idx = stratified_sample(y, 700, seed=0)
    clf = EmotionClassifier.load()
    probs = clf.predict(x[idx])
    report = classification_report(y[idx], probs)
    assert report["n"] == 700
    assert report["accuracy"] >= FLOOR, report
