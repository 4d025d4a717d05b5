"""Knowledge distillation: a small student learns from an ensemble of larger, frozen teachers.

`build_distiller(student, teachers)` returns one Keras model whose output is the student's
probabilities next to the teachers' (flip-averaged, ensemble-averaged) probabilities, `(N, 14)`.
`DistillLoss` compares the two halves (and the student with the labels), so plain `fit()` trains
the student on any backend; the teachers see exactly the augmented batch the student sees.
Only the student is ever served: `student_of(distiller)` returns it.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from model.emotions import NUM_CLASSES
from model.network import custom_objects


@keras.saving.register_keras_serializable(package="classmood")
class HorizontalFlip(keras.layers.Layer):
    """Mirror NHWC images left to right (deterministic; for teacher flip-averaging)."""

    def call(self, x):
        return ops.flip(x, axis=2)


@keras.saving.register_keras_serializable(package="classmood")
class CentreZoom(keras.layers.Layer):
    """Zoom NHWC images in by `factor` about their centre, bilinear (the served test-time zoom view,
    `model.classifier.TTA_ZOOM`, the way `cv2.warpAffine` draws it there)."""

    def __init__(self, factor: float, **kwargs):
        super().__init__(**kwargs)
        self.factor = float(factor)

    def call(self, x):
        n, h, w = ops.shape(x)[0], x.shape[1], x.shape[2]
        k = 1.0 / self.factor  # output pixel (u, v) samples the input at centre + (u - centre) / factor
        row = ops.convert_to_tensor([k, 0.0, (w - 1) / 2 * (1 - k), 0.0, k, (h - 1) / 2 * (1 - k), 0.0, 0.0],
                                    dtype=x.dtype)
        transform = ops.broadcast_to(row[None, :], (n, 8))
        return ops.image.affine_transform(x, transform, interpolation="bilinear", fill_mode="reflect",
                                          data_format="channels_last")

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="classmood")
class MeanOf(keras.layers.Layer):
    """The element-wise mean of a list of same-shape tensors."""

    def call(self, xs):
        return ops.mean(ops.stack(xs, axis=0), axis=0)


@keras.saving.register_keras_serializable(package="classmood")
class DistillLoss(keras.losses.Loss):
    """alpha * CE(labels, student) + (1 - alpha) * T^2 * KL(teacher_T || student_T).

    `y_pred` is `(N, 2K)`: student probabilities, then teacher probabilities; both are softened
    with temperature T through their logs. Labels may be one-hot or mixed (mixup)."""

    def __init__(self, alpha: float = 0.2, temperature: float = 2.0, label_smoothing: float = 0.0,
                 name: str = "distill", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha, self.temperature, self.label_smoothing = float(alpha), float(temperature), float(label_smoothing)

    def call(self, y_true, y_pred):
        k = NUM_CLASSES
        eps = 1e-7
        student, teacher = y_pred[:, :k], y_pred[:, k:]
        y_true = ops.cast(y_true, "float32")
        if self.label_smoothing:
            y_true = y_true * (1 - self.label_smoothing) + self.label_smoothing / k
        log_s = ops.log(ops.clip(student, eps, 1.0))
        hard = -ops.sum(y_true * log_s, axis=-1)
        t = self.temperature
        log_s_t = ops.log_softmax(log_s / t, axis=-1)
        log_t_t = ops.log_softmax(ops.log(ops.clip(teacher, eps, 1.0)) / t, axis=-1)
        soft = ops.sum(ops.exp(log_t_t) * (log_t_t - log_s_t), axis=-1) * t * t
        return self.alpha * hard + (1 - self.alpha) * soft

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "temperature": self.temperature,
                "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="classmood")
def student_accuracy(y_true, y_pred):
    """Accuracy of the student half of a distiller's output against (possibly mixed) labels."""
    return ops.cast(ops.equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred[:, :NUM_CLASSES], axis=-1)),
                    "float32")


def load_teacher(path, index: int):
    """A frozen copy of the model in `path`, renamed `teacher<index>` (teachers may share a name)."""

    loaded = keras.saving.load_model(path, custom_objects=custom_objects(), compile=False)
    config = loaded.get_config()
    config["name"] = f"teacher{index}"
    # fit() calls the distiller with training=True and a nested model passes that on whatever it
    # was built with: zero the teachers' dropout; frozen BatchNormalization already uses its averages.
    for layer in config["layers"]:
        if layer["class_name"] == "Dropout":
            layer["config"]["rate"] = 0.0
    teacher = keras.Model.from_config(config, custom_objects=custom_objects())
    teacher.set_weights(loaded.get_weights())
    teacher.trainable = False
    return teacher


def build_distiller(student, teachers, flip: bool = True, zoom: float | None = None):
    """The training-only model `pixels -> concat(student probs, mean teacher probs)`. Teachers
    answer for the batch, its mirror image (`flip`) and, with `zoom`, the batch zoomed in by that
    factor (and its mirror): the served test-time views, so the student learns their mean."""
    if not teachers:
        raise ValueError("distillation needs at least one teacher")
    inputs = keras.Input(shape=student.input_shape[1:], name="pixels")
    views = [inputs]
    if zoom:
        views.append(CentreZoom(zoom, name="zoom")(inputs))
    if flip:
        views += [HorizontalFlip(name=f"mirror{i}")(v) for i, v in enumerate(views)]
    outs = [t(v) for t in teachers for v in views]  # load_teacher made them deterministic
    teacher = outs[0] if len(outs) == 1 else MeanOf(name="teachers")(outs)
    joined = keras.layers.Concatenate(name="student_and_teachers")([student(inputs), teacher])
    return keras.Model(inputs, joined, name="distiller")


def student_of(model):
    """The served network inside a distiller (its one nested model that is not a teacher), or the
    model itself when it is not a distiller."""
    if model.name != "distiller":
        return model
    inner = [m for m in model.layers if isinstance(m, keras.Model) and not m.name.startswith("teacher")]
    if len(inner) != 1:
        raise ValueError(f"expected one student inside the distiller, found {[m.name for m in inner]}")
    return inner[0]


def teacher_accuracy(teachers, x, y, flip: bool = True, zoom: float | None = None, batch_size: int = 512) -> float:
    """Val accuracy of the teacher ensemble as the distiller uses it (for the log and the card)."""
    xs = x[..., None].astype("float32")
    views = [xs]
    if zoom:
        views.append(keras.ops.convert_to_numpy(CentreZoom(zoom)(xs)))
    if flip:
        views += [v[:, :, ::-1] for v in views]
    probs = sum(t.predict(v, batch_size=batch_size, verbose=0) for t in teachers for v in views)
    return float((np.argmax(probs, axis=1) == y).mean())
