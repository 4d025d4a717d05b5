"""Head pose (yaw, pitch, roll in degrees) from the detector's five landmarks.

The five points (eye centres, nose tip, mouth corners; `Detection.landmarks` order) are fitted to
a rigid 3-D template of the same points under a scaled orthographic camera: the 2x3 linear map
from the centred template to the centred landmarks is found by least squares, its rows made
orthonormal (the nearest rotation rows, by SVD), and the third row is their cross product. The
nose tip standing out of the plane of the eyes and mouth is what makes yaw and pitch observable;
an orthographic camera suits a webcam at arm's length seen in a small tile (perspective adds a few
degrees at most there) and needs no focal length, which a screen capture does not know.

Conventions (camera looking at the face; image x right, y down):
- **yaw** > 0: the face turned towards the image's right (the person's left); 0 facing the camera.
- **pitch** > 0: the face tilted up; < 0 down.
- **roll** > 0: the head tilted clockwise on the image.

The template is the median face of the Basel Face Model fits in AFLW2000-3D (3DDFA's
`test.configs`), measured on the even-numbered near-frontal faces only (|yaw| < 10 degrees, 321
faces) and scaled to a 62 mm interpupillary distance: eyes 37 mm above the nose tip and 32 mm
behind it, mouth corners 26 mm either side, 27 mm below and 37 mm behind it. The odd-numbered
faces are the validation (`bench/attention.py`; docs/teacher.md, "Attention"). numpy only.
"""

from __future__ import annotations

import numpy as np

# Head frame: x towards the image's right on a frontal face, y down, z away from the camera.
# Rows in landmark order: eye on the image's left, eye on its right, nose tip, mouth corners.
TEMPLATE = np.array([[-31.0, -37.0, 32.0],
                     [31.0, -37.0, 32.0],
                     [0.0, 0.0, 0.0],
                     [-26.0, 27.0, 37.0],
                     [26.0, 27.0, 37.0]])
_CENTRED = TEMPLATE - TEMPLATE.mean(axis=0)
_PINV = np.linalg.pinv(_CENTRED)  # (3, 5): least-squares map of centred template -> centred points


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The rotation (3x3, camera from head) of a head at these angles (degrees), in this module's
    conventions: `head_pose` of the template seen through it gives the angles back."""
    y, p, r = np.radians([yaw, pitch, roll])
    # yaw about the vertical axis, pitch about the horizontal one, then roll in the image plane
    ry = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def landmarks_at(yaw: float, pitch: float, roll: float = 0.0, *, shape: np.ndarray | None = None,
                 centre=(0.0, 0.0), scale: float = 1.0, distance_mm: float | None = None) -> np.ndarray:
    """The five landmarks (5, 2) of a face (`shape`: 5x3 points in the head frame, default the
    template) at these angles, seen orthographically, or in perspective from `distance_mm`, at
    `scale` pixels a millimetre around `centre`. For tests and benchmarks."""
    pts = (np.asarray(shape, np.float64) if shape is not None else TEMPLATE) @ rotation(yaw, pitch, roll).T
    if distance_mm is not None:
        z = distance_mm + pts[:, 2:3]
        pts = pts[:, :2] * (distance_mm / z)
    return pts[:, :2] * scale + np.asarray(centre, np.float64)


def head_pose(landmarks: np.ndarray) -> np.ndarray:
    """Yaw, pitch, roll in degrees for one face's landmarks (5, 2) -> (3,), or for many
    (N, 5, 2) -> (N, 3). Rows with missing or degenerate landmarks give NaN."""
    pts = np.asarray(landmarks, np.float64)
    single = pts.ndim == 2
    pts = pts.reshape(-1, 5, 2)
    out = np.full((len(pts), 3), np.nan)
    if not len(pts):
        return out[0] if single else out
    finite = np.isfinite(pts).all(axis=(1, 2))
    centred = np.where(finite[:, None, None], pts - np.nan_to_num(pts).mean(axis=1, keepdims=True), 0.0)
    m = np.einsum("ij,njk->nki", _PINV, centred)  # (N, 2, 3): image rows from head axes
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    r12 = u @ vt                                   # nearest orthonormal rows
    r3 = np.cross(r12[:, 0], r12[:, 1])
    forward = -r3                                   # the head's -z (towards the camera) in camera axes
    # the third row of the rotation holds the depth of each head axis; `forward` is that of -z
    fx, fy, fz = -r12[:, 0, 2], -r12[:, 1, 2], forward[:, 2]
    roll = np.arctan2(r12[:, 1, 0], r12[:, 0, 0])  # the head's x axis on the image
    # yaw and pitch with the roll undone: a tilted head looking straight ahead has neither
    c, s_ = np.cos(roll), np.sin(roll)
    fx, fy = c * fx + s_ * fy, -s_ * fx + c * fy
    yaw = np.degrees(np.arctan2(fx, -fz))
    pitch = np.degrees(np.arctan2(-fy, np.hypot(fx, fz)))
    roll = np.degrees(roll)
    ok = finite & (s[:, 1] > 1e-6 * np.maximum(s[:, 0], 1e-12))
    out[ok] = np.stack([yaw, pitch, roll], axis=1)[ok]
    return out[0] if single else out
