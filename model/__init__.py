"""ClassMood's facial-expression model: `from model import EmotionClassifier, EMOTIONS, ModelLoadError`.

Importing this package loads neither TensorFlow nor weights; `EmotionClassifier.load()` does.
"""

from model.classifier import EmotionClassifier, ModelLoadError
from model.emotions import EMOTIONS
from model.network import make_model

__all__ = ["EMOTIONS", "EmotionClassifier", "ModelLoadError", "make_model"]
