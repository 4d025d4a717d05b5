"""ClassMood's facial-expression model: `from model import EmotionClassifier, EMOTIONS, ModelLoadError`.

Importing this package loads neither TensorFlow nor weights; `EmotionClassifier.load()` does.
"""

from model.classifier import TTA_VIEWS, EmotionClassifier, ModelLoadError
from model.emotions import EMOTIONS

__all__ = ["EMOTIONS", "TTA_VIEWS", "EmotionClassifier", "ModelLoadError"]
