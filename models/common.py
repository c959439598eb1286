"""Shared helpers of the training scripts: data loading, seeding, sha256, JSON writing."""
import hashlib
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")


def load_digits(split):
    """The digit set written by export-data.mjs: (N,1,16,16) float32 in [-1, 1] and int64 labels."""
    x = np.fromfile(os.path.join(DATA, f"digits16-{split}.f32"), dtype="<f4").reshape(-1, 1, 16, 16)
    y = np.fromfile(os.path.join(DATA, f"digits16-{split}.i32"), dtype="<i4").astype(np.int64)
    assert x.shape[0] == y.shape[0]
    return torch.from_numpy(x.copy()), torch.from_numpy(y)


def seed_all(seed, threads=2):
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def param_count(model):
    return sum(p.numel() for p in model.parameters())
