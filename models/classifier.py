"""Small CNN digit classifier on 16×16 procedural digits; its 128-d penultimate features serve as the
domain's feature extractor for FID/KID/precision/recall.

Train and export (from the repository root; needs models/data from export-data.mjs):
    nice -n 10 /usr/bin/python3 models/classifier.py
Writes models/classifier-digits16/{model.onnx, card.json, fixture.json}.

I/O: pixel_values float32 [N,1,16,16] in [-1, 1] → logits float32 [N,10], features float32 [N,128]
(the ReLU activations feeding the last linear layer).
"""
import argparse
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import HERE, load_digits, param_count, seed_all, sha256, write_json


class Classifier(nn.Module):
    def __init__(self, feat=128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, feat), nn.ReLU(),
        )
        self.head = nn.Linear(feat, 10)

    def forward(self, pixel_values):
        f = self.body(pixel_values)
        return self.head(f), f


def accuracy(net, xs, ys):
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(xs[i : i + 1000])[0].argmax(1) for i in range(0, xs.shape[0], 1000)])
    return (pred == ys).float().mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--noise", type=float, default=0.1, help="std of Gaussian pixel noise added in training")
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(HERE, "classifier-digits16"))
    args = ap.parse_args()
    seed_all(args.seed, args.threads)
    xs, ys = load_digits("train")
    xt, yt = load_digits("test")
    net = Classifier()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    g = torch.Generator().manual_seed(args.seed)
    steps = args.epochs * (xs.shape[0] // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr * 3, total_steps=steps)
    t0 = time.time()
    step = 0
    for ep in range(args.epochs):
        net.train()
        perm = torch.randperm(xs.shape[0], generator=g)
        for i in range(0, xs.shape[0] - args.batch + 1, args.batch):
            idx = perm[i : i + args.batch]
            x = xs[idx] + args.noise * torch.randn((args.batch, 1, 16, 16), generator=g)
            loss = F.cross_entropy(net(x)[0], ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step % 100 == 0:
                print(f"epoch {ep} step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
            step += 1
        print(f"epoch {ep} held-out accuracy {accuracy(net, xt, yt):.4f}", flush=True)
    train_s = time.time() - t0
    acc = accuracy(net, xt, yt)
    export(net.eval(), args, train_s, acc, steps)


def export(net, args, train_s, acc, steps):
    out = args.out
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "model.onnx")
    xt, yt = load_digits("test")
    # parity fixture: 3 held-out digits and one Gaussian-noise image
    g = torch.Generator().manual_seed(4321)
    x = torch.cat([xt[:3], torch.randn((1, 1, 16, 16), generator=g).clamp(-1, 1)])
    with torch.no_grad():
        logits, feats = net(x)
    torch.onnx.export(
        net,
        (x,),
        path,
        opset_version=17,
        input_names=["pixel_values"],
        output_names=["logits", "features"],
        dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
        do_constant_folding=True,
    )
    write_json(
        os.path.join(out, "fixture.json"),
        {
            "note": "fixed inputs (3 held-out digits, labels below, and one clamped Gaussian image) and PyTorch outputs at export",
            "pixel_values": x.flatten().tolist(),
            "shape": list(x.shape),
            "labels": yt[:3].tolist(),
            "logits": logits.flatten().tolist(),
            "features": feats.flatten().tolist(),
        },
    )
    write_json(
        os.path.join(out, "card.json"),
        {
            "name": "classifier-digits16",
            "task": "10-way digit classifier; penultimate 128-d ReLU features as the domain feature extractor",
            "data": "train: digitsDataset({ count: 60000, size: 16, seed: 1 }); held-out: digitsDataset({ count: 10000, size: 16, seed: 2 })",
            "inputs": {"pixel_values": "float32 [N,1,16,16] in [-1, 1]"},
            "outputs": {"logits": "float32 [N,10]", "features": "float32 [N,128]"},
            "feature_dim": 128,
            "num_classes": 10,
            "opset": 17,
            "parameters": param_count(net),
            "metrics": {"held_out_accuracy": round(acc, 5), "held_out_count": int(yt.shape[0])},
            "training": {
                "script": "models/classifier.py",
                "seed": args.seed,
                "epochs": args.epochs,
                "steps": steps,
                "batch": args.batch,
                "optimizer": f"Adam, one-cycle LR peak {args.lr * 3}",
                "augmentation": f"Gaussian pixel noise std {args.noise}",
                "threads": args.threads,
                "seconds": round(train_s),
            },
            "files": {"model.onnx": {"sha256": sha256(path), "bytes": os.path.getsize(path)}},
        },
    )
    print(f"held-out accuracy {acc:.4f}; exported {path} ({os.path.getsize(path)} bytes)", flush=True)


if __name__ == "__main__":
    main()
