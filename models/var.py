"""VAR-style next-scale generation on 16×16 digits: a multi-scale residual VQ (scales 1, 2, 3, 4 over a
4×4 latent grid) and a class-conditional transformer with block-causal attention across scales.

Train and export (from the repository root; needs models/data from export-data.mjs):
    nice -n 10 /usr/bin/python3 models/var.py
Writes models/msvq-digits16/decoder.onnx and models/var-digits16/model.onnx with card.json and
fixture.json in each folder.

msvq decoder: tokens int64 [N,30] (scales 1², 2², 3², 4² concatenated, row-major) → sample f32
[N,1,16,16]. VAR transformer (Tessera token-logits graph): tokens int64 [N,30] (unknown = 256) and
labels int64 [N] (0–9, 10 = null class) → logits f32 [N,30,256]; the logits of scale k depend on the
tokens of scales < k only (block-causal attention; scale k's input is the accumulated VQ feature of
scales < k, area-resized to k's side, VAR's `idxBl_to_var_input`).
"""
import argparse
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import HERE, load_digits, param_count, seed_all, sha256, write_json

K, CD = 256, 16
PN = (1, 2, 3, 4)
L = sum(p * p for p in PN)
BEGINS = [sum(p * p for p in PN[:k]) for k in range(len(PN))]
NULL = 10


def _matrices():
    """Area (adaptive average pool) 4→p and bilinear (align_corners=False) p→4 resizing as matrices, so
    the graph needs only MatMul/Einsum (ONNX cannot export adaptive pooling to a non-divisor size)."""
    n = PN[-1]
    eye = torch.eye(n)
    down, up = {}, {}
    for p in PN:
        # rows of the identity pooled along one axis: column j of the result is pool(e_j)
        down[p] = F.adaptive_avg_pool1d(eye[:, None, :], p)[:, 0, :].t().contiguous()  # [p, n]
        e = torch.eye(p)[:, None, None, :].expand(p, 1, 1, p)  # p one-hot rows
        u = F.interpolate(e, size=(1, n), mode="bilinear", align_corners=False)[:, 0, 0, :]  # [p, n]
        up[p] = u.t().contiguous()  # [n, p]
    return down, up


DOWN, UP = _matrices()


def area(f, p):
    return f if p == PN[-1] else torch.einsum("ph,nchw,qw->ncpq", DOWN[p], f, DOWN[p])


def upsample(q):
    p = int(q.shape[-1])
    return q if p == PN[-1] else torch.einsum("hp,ncpq,wq->nchw", UP[p], q, UP[p])


class MSVQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.SiLU(),
            nn.Conv2d(64, 96, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(96, CD, 1),
        )
        self.codebook = nn.Parameter(torch.randn(K, CD) * 0.5)
        self.dec = nn.Sequential(
            nn.Conv2d(CD, 96, 3, padding=1), nn.SiLU(),
            nn.Conv2d(96, 96, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            nn.Conv2d(96, 64, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            nn.Conv2d(64, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 1, 3, padding=1),
        )

    def up(self, x):
        return upsample(x)

    def quantize(self, f):
        """Residual multi-scale quantization (VAR): tokens per scale, the sum f̂, and the losses."""
        rest = f
        fhat = torch.zeros_like(f)
        toks, loss = [], 0.0
        for p in PN:
            r = area(rest, p)
            flat = r.permute(0, 2, 3, 1).reshape(-1, CD)
            d = (flat * flat).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + (self.codebook * self.codebook).sum(1)[None]
            idx = d.argmin(1)
            q = self.codebook[idx].reshape(r.shape[0], p, p, CD).permute(0, 3, 1, 2)
            loss = loss + F.mse_loss(q, r.detach()) + 0.25 * F.mse_loss(r, q.detach())
            q = r + (q - r).detach()
            uq = self.up(q)
            fhat = fhat + uq
            rest = rest - uq
            toks.append(idx.reshape(r.shape[0], p * p))
        return torch.cat(toks, 1), fhat, loss / len(PN)

    def fhat_from_tokens(self, tokens, upto=len(PN)):
        fhat = 0
        for k in range(upto):
            p = PN[k]
            t = tokens[:, BEGINS[k] : BEGINS[k] + p * p]
            q = F.embedding(t, self.codebook).reshape(t.shape[0], p, p, CD).permute(0, 3, 1, 2)
            fhat = fhat + self.up(q)
        return fhat

    def forward(self, x):
        toks, fhat, qloss = self.quantize(self.enc(x))
        return self.dec(fhat), toks, qloss


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, bias):
        b, t, d = x.shape
        hd = d // self.h
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.reshape(b, t, self.h, hd).transpose(1, 2) for z in (q, k, v))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + bias, dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class VAR(nn.Module):
    def __init__(self, vq, d=128, h=4, layers=4):
        super().__init__()
        self.vq = vq  # frozen: its codebook and resizing build the inputs
        self.cls = nn.Embedding(11, d)
        self.word = nn.Linear(CD, d)
        self.pos = nn.Parameter(torch.randn(1, L, d) * 0.02)
        self.lvl = nn.Embedding(len(PN), d)
        self.blocks = nn.ModuleList([Block(d, h) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, K)
        level = torch.cat([torch.full((p * p,), k, dtype=torch.long) for k, p in enumerate(PN)])
        self.register_buffer("level", level, persistent=False)
        self.register_buffer("bias", torch.where(level[:, None] >= level[None, :], 0.0, -1e9)[None, None], persistent=False)

    def forward(self, tokens, labels):
        n = tokens.shape[0]
        tokens = tokens.clamp(0, K - 1)  # unknown positions (= K) only feed later scales
        parts = [self.cls(labels)[:, None, :]]
        for k in range(1, len(PN)):
            f = self.vq.fhat_from_tokens(tokens, k)
            f = area(f, PN[k])
            parts.append(self.word(f.flatten(2).transpose(1, 2)))
        x = torch.cat(parts, 1) + self.pos + self.lvl(self.level)[None]
        for blk in self.blocks:
            x = blk(x, self.bias)
        return self.head(self.ln(x))


class Dec(nn.Module):
    def __init__(self, vq):
        super().__init__()
        self.vq = vq

    def forward(self, tokens):
        return self.vq.dec(self.vq.fhat_from_tokens(tokens))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vq-steps", type=int, default=1500)
    ap.add_argument("--var-steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    seed_all(args.seed, args.threads)
    g = torch.Generator().manual_seed(args.seed)
    xs, ys = load_digits("train")
    xt, yt = load_digits("test")
    vq = MSVQ()
    opt = torch.optim.Adam(vq.parameters(), lr=2e-3)
    t0 = time.time()
    for step in range(args.vq_steps):
        x = xs[torch.randint(0, xs.shape[0], (args.batch,), generator=g)]
        rec, toks, ql = vq(x)
        loss = F.mse_loss(rec, x) + ql
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 and step < args.vq_steps - 300:
            with torch.no_grad():
                dead = (torch.bincount(toks.flatten(), minlength=K) == 0).nonzero().flatten()
                if len(dead):
                    z = vq.enc(x).permute(0, 2, 3, 1).reshape(-1, CD)
                    vq.codebook[dead] = z[torch.randint(0, z.shape[0], (len(dead),), generator=g)]
            print(f"msvq step {step} loss {loss.item():.4f} dead {len(dead)} {time.time() - t0:.0f}s", flush=True)
    vq_s = time.time() - t0
    vq.eval()
    for p in vq.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        tok_tr = torch.cat([vq.quantize(vq.enc(xs[i : i + 2000]))[0] for i in range(0, xs.shape[0], 2000)])
        tok_te = torch.cat([vq.quantize(vq.enc(xt[i : i + 2000]))[0] for i in range(0, xt.shape[0], 2000)])
        rec = torch.cat([vq.dec(vq.fhat_from_tokens(tok_te[i : i + 2000])) for i in range(0, xt.shape[0], 2000)])
        mse = F.mse_loss(rec, xt).item()
    print(f"msvq held-out mse {mse:.4f}", flush=True)
    var = VAR(vq)
    params = [p for n_, p in var.named_parameters() if not n_.startswith("vq.")]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * (0.5 * (1 + math.cos(math.pi * min(s, args.var_steps) / args.var_steps)) * 0.9 + 0.1)
    )
    t1 = time.time()
    for step in range(args.var_steps):
        idx = torch.randint(0, tok_tr.shape[0], (args.batch,), generator=g)
        lab = ys[idx].clone()
        lab[torch.rand(args.batch, generator=g) < 0.1] = NULL
        tk = tok_tr[idx]
        loss = F.cross_entropy(var(tk, lab).reshape(-1, K), tk.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.var_steps - 1:
            print(f"var step {step} loss {loss.item():.4f} {time.time() - t1:.0f}s", flush=True)
    var_s = time.time() - t1
    var.eval()
    with torch.no_grad():
        nll = F.cross_entropy(var(tok_te[:2000], yt[:2000]).reshape(-1, K), tok_te[:2000].reshape(-1)).item()
    print(f"var held-out nll {nll:.4f}", flush=True)
    export(vq, var, args, vq_s, var_s, mse, nll, tok_te, yt, xt)


def export(vq, var, args, vq_s, var_s, mse, nll, tok_te, yt, xt):
    d1 = os.path.join(HERE, "msvq-digits16")
    d2 = os.path.join(HERE, "var-digits16")
    os.makedirs(d1, exist_ok=True)
    os.makedirs(d2, exist_ok=True)
    p1 = os.path.join(d1, "decoder.onnx")
    p2 = os.path.join(d2, "model.onnx")
    toks = tok_te[:3]
    with torch.no_grad():
        img = Dec(vq)(toks)
    torch.onnx.export(Dec(vq).eval(), (toks,), p1, opset_version=17, input_names=["tokens"], output_names=["sample"],
                      dynamic_axes={"tokens": {0: "batch"}, "sample": {0: "batch"}}, do_constant_folding=True)
    # VAR fixture: held-out tokens with scales ≥ 2 unknown (= K), labels incl. the null class
    vt = toks.clone()
    vt[:, BEGINS[2]:] = K
    lab = torch.tensor([int(yt[0]), int(yt[1]), NULL])
    with torch.no_grad():
        logits = var(vt, lab)
    torch.onnx.export(var, (vt, lab), p2, opset_version=17, input_names=["tokens", "labels"], output_names=["logits"],
                      dynamic_axes={"tokens": {0: "batch"}, "labels": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    write_json(os.path.join(d1, "fixture.json"), {"note": "3 held-out digits' multi-scale tokens and the PyTorch decoder output at export",
               "tokens": toks.flatten().tolist(), "shape": list(toks.shape), "sample": img.flatten().tolist(),
               "pixel_values": xt[:3].flatten().tolist()})
    write_json(os.path.join(d2, "fixture.json"), {"note": "PyTorch logits at export (scales >= 2 unknown = 256), positions 0..13 (scales 0-2)",
               "tokens": vt.flatten().tolist(), "shape": list(vt.shape), "labels": lab.tolist(), "positions": BEGINS[3],
               "logits": logits[:, : BEGINS[3]].flatten().tolist()})
    common = {"data": "train: digitsDataset({ count: 60000, size: 16, seed: 1 }); held-out: digitsDataset({ count: 10000, size: 16, seed: 2 })",
              "patch_nums": list(PN), "codebook_size": K, "opset": 17}
    write_json(os.path.join(d1, "card.json"), {"name": "msvq-digits16",
               "task": "multi-scale residual VQ (VAR): 16x16 digit <-> tokens of scales 1,2,3,4 over a 4x4x16 latent",
               **common, "inputs": {"tokens": "int64 [N,30] (scales concatenated, row-major)"}, "outputs": {"sample": "float32 [N,1,16,16]"},
               "parameters": param_count(vq), "metrics": {"held_out_reconstruction_mse": round(mse, 5)},
               "training": {"script": "models/var.py", "seed": args.seed, "steps": args.vq_steps, "batch": args.batch,
                            "optimizer": "Adam 2e-3; commitment 0.25; dead codes re-seeded every 100 steps", "threads": args.threads, "seconds": round(vq_s)},
               "files": {"decoder.onnx": {"sha256": sha256(p1), "bytes": os.path.getsize(p1)}}})
    write_json(os.path.join(d2, "card.json"), {"name": "var-digits16",
               "task": "class-conditional next-scale (VAR) transformer over msvq-digits16 tokens, block-causal across scales",
               **common, "inputs": {"tokens": "int64 [N,30] (unknown = 256)", "labels": "int64 [N] (0-9; 10 = null class)"},
               "outputs": {"logits": "float32 [N,30,256]"}, "num_classes": 10, "null_class": NULL,
               "layers": 4, "heads": 4, "d_model": 128, "parameters": param_count(var) - param_count(vq),
               "metrics": {"held_out_nll_per_token": round(nll, 5)},
               "training": {"script": "models/var.py", "seed": args.seed, "steps": args.var_steps, "batch": args.batch,
                            "optimizer": "AdamW 1e-3 wd 0.01, 100-step warmup, cosine to 0.1x; grad clip 1.0", "p_uncond": 0.1,
                            "threads": args.threads, "seconds": round(var_s)},
               "files": {"model.onnx": {"sha256": sha256(p2), "bytes": os.path.getsize(p2)}}})
    print(f"exported {p1} {p2}", flush=True)


if __name__ == "__main__":
    main()
