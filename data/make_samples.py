#!/usr/bin/python3
"""Regenerate the committed sample datasets in data/ (deterministic).

sample.h5    /readings  float64 (1000, 150), chunks (128, 150), gzip 4 + shuffle:
                        150 synthetic sensors sampled 1000 times (a sinusoid per
                        sensor plus noise quantised to 1e-3).
             /station   int32 (150,): station id of each sensor.
             /valid     bool (1000, 150): h5py bool enum, False where a reading is
                        flagged (about 1%).
astronaut.h5 /rgb       uint8 (512, 512, 3) and /gray uint8 (512, 512): the
                        astronaut image shipped by scikit-image
                        (skimage.data.astronaut(): NASA photograph of Eileen
                        Collins, public domain), gray = round(255 * rgb2gray).
"""
import os
import h5py
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261124)
t = np.arange(1000)[:, None]
f = rng.uniform(0.005, 0.05, 150)[None, :]
x = 10 * np.sin(2 * np.pi * f * t) + 20 + np.round(rng.normal(0, 0.5, (1000, 150)), 3)
with h5py.File(os.path.join(here, "sample.h5"), "w") as h:
    h.create_dataset("readings", data=x, chunks=(128, 150), compression="gzip",
                     compression_opts=4, shuffle=True)
    h.create_dataset("station", data=np.arange(150, dtype=np.int32) // 10)
    h.create_dataset("valid", data=rng.uniform(size=(1000, 150)) > 0.01, chunks=(250, 150))

try:
    from skimage import data, color
    rgb = data.astronaut()
    gray = np.round(255 * color.rgb2gray(rgb)).astype(np.uint8)
    with h5py.File(os.path.join(here, "astronaut.h5"), "w") as h:
        h.create_dataset("rgb", data=rgb, chunks=(128, 128, 3))
        h.create_dataset("gray", data=gray, chunks=(128, 128))
except ImportError:
    print("python3-skimage not installed: astronaut.h5 not regenerated")
