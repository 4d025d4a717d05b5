"""The network builder shared by training and serving (Keras 3: TensorFlow on CPU, JAX on GPU).

All pre-processing lives inside the graph: the model takes raw uint8-range grayscale pixels
`(N, 48, 48, 1)` and standardises each face itself, so training and serving cannot drift apart.
Keras is imported inside functions only: importing `model` must stay cheap.
"""

from __future__ import annotations

import numpy as np

from model.emotions import INPUT_SIZE, NUM_CLASSES
from model.errors import ModelLoadError

_CUSTOM_OBJECTS: dict | None = None


def custom_objects() -> dict:
    """The serialisable layers this package defines, registered once with Keras."""
    global _CUSTOM_OBJECTS
    if _CUSTOM_OBJECTS is None:
        import keras

        @keras.saving.register_keras_serializable(package="classmood")
        class PerImageStandardize(keras.layers.Layer):
            """(x - mean) / max(std, eps) over each face: lighting and contrast invariance."""

            def __init__(self, epsilon: float = 1.0, **kwargs):
                super().__init__(**kwargs)
                self.epsilon = float(epsilon)

            def call(self, x):
                from keras import ops

                x = ops.cast(x, "float32")
                mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
                std = ops.std(x, axis=(1, 2, 3), keepdims=True)
                return (x - mean) / ops.maximum(std, self.epsilon)

            def get_config(self):
                return {**super().get_config(), "epsilon": self.epsilon}

        _CUSTOM_OBJECTS = {"classmood>PerImageStandardize": PerImageStandardize}
    return _CUSTOM_OBJECTS


def load_keras(path, compile: bool = False):
    """Load a `.keras` file of ours with Keras (imports Keras and its backend: training and the
    serving fallback only)."""
    import keras

    return keras.saving.load_model(path, custom_objects=custom_objects(), compile=compile)


def read_keras(path):
    """`load_keras(path)` for serving and tools: a file Keras cannot read, or Keras or TensorFlow
    missing, raises `ModelLoadError` naming the file and why."""
    try:
        return load_keras(path)
    except ImportError as e:
        raise ModelLoadError(path, f"TensorFlow or Keras is not installed, so the .keras file cannot serve ({e})") from e
    except Exception as e:  # Keras raises ValueError, OSError, zipfile errors... for bad files
        raise ModelLoadError(path, f"not a readable Keras model ({type(e).__name__}: {e})") from e


def multiply_adds(model) -> int:
    """Multiply-adds of one forward pass of one face through a Keras model (convolutions and dense
    layers; element-wise work is not counted)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += multiply_adds(layer)
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            k = layer.kernel.shape
            out = layer.output.shape
            total += int(np.prod(out[1:3])) * int(np.prod(k))
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


def make_model(
    input_shape: tuple[int, int, int] = (INPUT_SIZE, INPUT_SIZE, 1),
    num_classes: int = NUM_CLASSES,
    width: int = 32,
    blocks: int = 4,
    dropout: float = 0.4,
    seed: int | None = None,
    convs: int = 2,
    name: str | None = None,
):
    """A VGG-style CNN: `blocks` stages of `convs` 3x3 conv + BN + ReLU, channel count doubling from
    `width`, max-pooling between stages, then global average + max pooling and a softmax head.

    width=32, blocks=4: about 1.3M parameters (the served student); width=64: about 4.7M and
    width=64, convs=3: about 7.2M (the GPU teachers).
    """
    import keras
    from keras import layers

    standardize = custom_objects()["classmood>PerImageStandardize"]
    init = keras.initializers.HeNormal(seed=seed)
    reg = keras.regularizers.L2(1e-4)

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = standardize(name="standardize")(inputs)
    channels = width
    for b in range(blocks):
        for c in range(convs):
            x = layers.Conv2D(channels, 3, padding="same", use_bias=False, kernel_initializer=init,
                              kernel_regularizer=reg, name=f"b{b}_conv{c}")(x)
            x = layers.BatchNormalization(name=f"b{b}_bn{c}")(x)
            x = layers.ReLU(name=f"b{b}_relu{c}")(x)
        if b < blocks - 1:
            x = layers.MaxPooling2D(2, name=f"b{b}_pool")(x)
        channels *= 2
    x = layers.Concatenate(name="pool")([layers.GlobalAveragePooling2D(name="gap")(x),
                                         layers.GlobalMaxPooling2D(name="gmp")(x)])
    x = layers.Dropout(dropout, seed=seed, name="drop1")(x)
    x = layers.Dense(256, use_bias=False, kernel_initializer=init, kernel_regularizer=reg, name="fc")(x)
    x = layers.BatchNormalization(name="fc_bn")(x)
    x = layers.ReLU(name="fc_relu")(x)
    x = layers.Dropout(dropout / 2, seed=seed, name="drop2")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    default = f"classmood_vgg{blocks}x{width}" + (f"c{convs}" if convs != 2 else "")
    return keras.Model(inputs, outputs, name=name or default)
