"""The label contract: the seven FER2013 classes, in FER2013's own order.

This tuple is the only place the label list is written down. The model card beside the weights
records it too, and `EmotionClassifier.load` refuses weights whose card disagrees.
"""

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

NUM_CLASSES = len(EMOTIONS)
INPUT_SIZE = 48  # FER2013 crops are 48x48 grayscale

# What a class says of a face's mood, and the calibrated top score from which a face's expression
# counts (`bot.mood` builds the class mood on these; `training.calibrate` reports against them).
NEGATIVE: tuple[str, ...] = ("angry", "disgust", "fear", "sad")
POSITIVE: tuple[str, ...] = ("happy",)
CONFIDENT = 0.5
