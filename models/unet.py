"""Class-conditional DDPM ε-prediction U-Net on 16×16 procedural digits.

Train and export (from the repository root; needs models/data from export-data.mjs):
    nice -n 10 /usr/bin/python3 models/unet.py --steps 2000 --batch 64
Writes models/unet-digits16/{model.onnx, scheduler_config.json, card.json, fixture.json}.

I/O (Optimum UNet layout): sample float32 [N,1,16,16], timestep float32 [N] (per row, fractional
allowed), class_labels int64 [N] (0–9, 10 = the null class used for classifier-free guidance)
→ out_sample float32 [N,1,16,16] (the predicted ε).
"""
import argparse
import copy
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import HERE, load_digits, param_count, seed_all, sha256, write_json

T = 1000
BETA_START, BETA_END = 1e-4, 0.02
NULL_CLASS = 10


def timestep_embedding(t, dim):
    """Sinusoidal embedding of float timesteps (DDPM/diffusers style: [cos | sin], max period 10000)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    a = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb):
        super().__init__()
        self.n1 = nn.GroupNorm(8, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.e = nn.Linear(emb, cout)
        self.n2 = nn.GroupNorm(8, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.e(e)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)


class Attn(nn.Module):
    """Single-head self-attention over the spatial positions (used at 4×4)."""

    def __init__(self, c):
        super().__init__()
        self.n = nn.GroupNorm(8, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.o = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.n(x)).reshape(b, 3, c, h * w).unbind(1)
        a = torch.softmax(torch.einsum("bci,bcj->bij", q, k) / math.sqrt(c), dim=-1)
        return x + self.o(torch.einsum("bij,bcj->bci", a, v).reshape(b, c, h, w))


class UNet(nn.Module):
    def __init__(self, ch=(32, 64, 64), emb=128, classes=11):
        super().__init__()
        c1, c2, c3 = ch
        self.emb_dim = emb
        self.t_mlp = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.cls = nn.Embedding(classes, emb)
        self.inp = nn.Conv2d(1, c1, 3, padding=1)
        self.r1 = ResBlock(c1, c1, emb)
        self.d1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.r2 = ResBlock(c1, c2, emb)
        self.d2 = nn.Conv2d(c2, c2, 3, stride=2, padding=1)
        self.r3 = ResBlock(c2, c3, emb)
        self.m1 = ResBlock(c3, c3, emb)
        self.ma = Attn(c3)
        self.m2 = ResBlock(c3, c3, emb)
        self.u3 = ResBlock(c3 + c3, c3, emb)
        self.up2 = nn.Conv2d(c3, c2, 3, padding=1)
        self.u2 = ResBlock(c2 + c2, c2, emb)
        self.up1 = nn.Conv2d(c2, c1, 3, padding=1)
        self.u1 = ResBlock(c1 + c1, c1, emb)
        self.out_n = nn.GroupNorm(8, c1)
        self.out = nn.Conv2d(c1, 1, 3, padding=1)

    def forward(self, x, t, y):
        e = self.t_mlp(timestep_embedding(t, self.emb_dim)) + self.cls(y)
        e = F.silu(e)
        h0 = self.inp(x)
        s1 = self.r1(h0, e)
        s2 = self.r2(self.d1(s1), e)
        s3 = self.r3(self.d2(s2), e)
        h = self.m2(self.ma(self.m1(s3, e)), e)
        h = self.u3(torch.cat([h, s3], 1), e)
        h = self.up2(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.u2(torch.cat([h, s2], 1), e)
        h = self.up1(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.u1(torch.cat([h, s1], 1), e)
        return self.out(F.silu(self.out_n(h)))


class Export(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, sample, timestep, class_labels):
        return self.net(sample, timestep, class_labels)


def alphas_cumprod():
    betas = torch.linspace(BETA_START, BETA_END, T, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--p-uncond", type=float, default=0.1)
    ap.add_argument("--out", default=os.path.join(HERE, "unet-digits16"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ema", type=float, default=0.995)
    args = ap.parse_args()
    seed_all(args.seed, args.threads)
    xs, ys = load_digits("train")
    net = UNet()
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.0)
    warm = 200
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: min(1.0, (s + 1) / warm) * (0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)) * 0.9 + 0.1),
    )
    ac = alphas_cumprod().float()
    g = torch.Generator().manual_seed(args.seed)
    print(f"params {param_count(net)}, steps {args.steps}, batch {args.batch}", flush=True)
    t0 = time.time()
    run_loss = None
    stop_file = os.path.join(args.out, "STOP")
    steps_done = args.steps
    for step in range(args.steps):
        if os.path.exists(stop_file):
            # a shared machine can make a run too slow: `touch models/unet-digits16/STOP` ends it early
            # (the card records the steps actually taken)
            steps_done = step
            os.remove(stop_file)
            print(f"stopped at step {step}", flush=True)
            break
        idx = torch.randint(0, xs.shape[0], (args.batch,), generator=g)
        x0, y = xs[idx], ys[idx].clone()
        y[torch.rand(args.batch, generator=g) < args.p_uncond] = NULL_CLASS
        t = torch.randint(0, T, (args.batch,), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        a = ac[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        loss = F.mse_loss(net(xt, t.float(), y), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters()):
                pe.mul_(decay).add_(pn.detach(), alpha=1 - decay)
        run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step} loss {run_loss:.4f} {time.time() - t0:.0f}s", flush=True)
    train_s = time.time() - t0
    os.makedirs(args.out, exist_ok=True)
    torch.save(ema.state_dict(), os.path.join(args.out, "ema.pt"))
    args.steps_done = steps_done
    export(ema, args, train_s, run_loss)


def export(ema, args, train_s, final_loss):
    out = args.out
    model = Export(ema).eval()
    path = os.path.join(out, "model.onnx")
    # fixed inputs for the parity test: per-row timesteps (one fractional), one null-class row
    g = torch.Generator().manual_seed(1234)
    n = 4
    sample = torch.randn((n, 1, 16, 16), generator=g)
    timestep = torch.tensor([999.0, 500.0, 37.25, 0.0])
    class_labels = torch.tensor([3, 7, NULL_CLASS, 0], dtype=torch.int64)
    with torch.no_grad():
        ref = model(sample, timestep, class_labels)
    torch.onnx.export(
        model,
        (sample, timestep, class_labels),
        path,
        opset_version=17,
        input_names=["sample", "timestep", "class_labels"],
        output_names=["out_sample"],
        dynamic_axes={"sample": {0: "batch"}, "timestep": {0: "batch"}, "class_labels": {0: "batch"}, "out_sample": {0: "batch"}},
        do_constant_folding=True,
    )
    write_json(
        os.path.join(out, "fixture.json"),
        {
            "note": "fixed inputs and the PyTorch (EMA weights) outputs at export, for the ONNX parity test",
            "sample": sample.flatten().tolist(),
            "timestep": timestep.tolist(),
            "class_labels": class_labels.tolist(),
            "shape": [n, 1, 16, 16],
            "out_sample": ref.flatten().tolist(),
        },
    )
    write_json(
        os.path.join(out, "scheduler_config.json"),
        {
            "_class_name": "DDPMScheduler",
            "num_train_timesteps": T,
            "beta_start": BETA_START,
            "beta_end": BETA_END,
            "beta_schedule": "linear",
            "prediction_type": "epsilon",
            "clip_sample": False,
            "timestep_spacing": "leading",
            "steps_offset": 0,
        },
    )
    write_json(
        os.path.join(out, "card.json"),
        {
            "name": "unet-digits16",
            "task": "class-conditional DDPM epsilon prediction on 16x16 procedural digits",
            "data": "digitsDataset({ count: 60000, size: 16, seed: 1 }) from @tessera/reference (models/export-data.mjs)",
            "inputs": {
                "sample": "float32 [N,1,16,16]",
                "timestep": "float32 [N] (per row; DDPM step index 0..999, fractional allowed)",
                "class_labels": "int64 [N] (0-9; 10 = null class for classifier-free guidance)",
            },
            "outputs": {"out_sample": "float32 [N,1,16,16] (predicted noise epsilon)"},
            "null_class": NULL_CLASS,
            "num_classes": 10,
            "opset": 17,
            "parameters": param_count(ema),
            "training": {
                "script": "models/unet.py",
                "seed": args.seed,
                "steps": args.steps_done,
                "planned_steps": args.steps,
                "batch": args.batch,
                "lr": args.lr,
                "optimizer": f"AdamW, 200-step warmup, cosine to 0.1x; grad clip 1.0; EMA {args.ema}",
                "p_uncond": args.p_uncond,
                "schedule": f"linear betas {BETA_START}..{BETA_END}, {T} steps",
                "threads": args.threads,
                "seconds": round(train_s),
                "final_loss_ema": round(final_loss, 5),
            },
            "files": {"model.onnx": {"sha256": sha256(path), "bytes": os.path.getsize(path)}},
        },
    )
    print(f"exported {path} ({os.path.getsize(path)} bytes)", flush=True)


if __name__ == "__main__":
    main()
