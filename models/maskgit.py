"""A class-conditional masked token transformer (MaskGIT-style) over the 4x4 code grid of vq-digits16.

Train and export (from the repository root; needs models/data from export-data.mjs and
export-codes.mjs, which tokenizes the digits with the shipped vq-digits16 graphs):
    nice -n 10 /usr/bin/python3 models/maskgit.py
Writes models/maskgit-digits16/model.onnx with card.json and fixture.json.

Graph (the token-logits form of @tessera/backend-onnx's onnxMaskedModel): tokens int64 [N,16] (codes
0..255, 256 = masked), labels int64 [N] (0..9; 10 = null class, for classifier-free guidance) ->
logits float32 [N,16,256]. Bidirectional attention over [class token, 16 code positions].

Training (MaskGIT, Chang et al. 2022): per sample a masking ratio r = cos(pi/2 * u), u ~ U(0, 1),
ceil(16 r) random positions replaced by the mask token, cross-entropy on the masked positions only;
labels dropped to the null class with p = 0.1.
"""
import argparse
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import DATA, HERE, load_digits, param_count, seed_all, sha256, write_json

K, L, NULL = 256, 16, 10
MASK = K


def load_codes(split):
    c = np.fromfile(os.path.join(DATA, f"digits16-{split}-vq.i32"), dtype="<i4").astype(np.int64)
    return torch.from_numpy(c.reshape(-1, L).copy())


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        b, t, d = x.shape
        hd = d // self.h
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.reshape(b, t, self.h, hd).transpose(1, 2) for z in (q, k, v))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class MaskGIT(nn.Module):
    def __init__(self, d=128, h=4, layers=4):
        super().__init__()
        self.tok = nn.Embedding(K + 1, d)
        self.cls = nn.Embedding(NULL + 1, d)
        self.pos = nn.Parameter(torch.randn(1, L + 1, d) * 0.02)
        self.blocks = nn.ModuleList([Block(d, h) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, K)
        self.d, self.h, self.layers = d, h, layers

    def forward(self, tokens, labels):
        # any value outside [0, K) is "masked", as the token-graph convention feeds unknown positions
        tokens = torch.where((tokens >= 0) & (tokens < K), tokens, torch.full_like(tokens, MASK))
        x = torch.cat([self.cls(labels)[:, None, :], self.tok(tokens)], 1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x[:, 1:]))


def mask_batch(toks, g):
    n = toks.shape[0]
    r = torch.cos(0.5 * math.pi * torch.rand(n, generator=g))
    count = torch.clamp(torch.ceil(r * L), 1, L)
    rank = torch.argsort(torch.rand(n, L, generator=g), dim=1).argsort(dim=1)
    masked = rank < count[:, None]
    return torch.where(masked, torch.full_like(toks, MASK), toks), masked


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--p-uncond", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    seed_all(args.seed, args.threads)
    g = torch.Generator().manual_seed(args.seed)
    _, ys = load_digits("train")
    _, yt = load_digits("test")
    tr, te = load_codes("train"), load_codes("test")
    net = MaskGIT()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * (0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)) * 0.9 + 0.1)
    )
    t0 = time.time()
    for step in range(args.steps):
        idx = torch.randint(0, tr.shape[0], (args.batch,), generator=g)
        tk = tr[idx]
        lab = ys[idx].clone()
        lab[torch.rand(args.batch, generator=g) < args.p_uncond] = NULL
        inp, masked = mask_batch(tk, g)
        logits = net(inp, lab)
        loss = F.cross_entropy(logits[masked], tk[masked])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"maskgit step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    secs = time.time() - t0
    net.eval()
    with torch.no_grad():
        ge = torch.Generator().manual_seed(1)
        inp, masked = mask_batch(te[:2000], ge)
        nll = F.cross_entropy(net(inp, yt[:2000])[masked], te[:2000][masked]).item()
        half = te[:2000].clone()
        half[:, 8:] = MASK
        nll_half = F.cross_entropy(net(half, yt[:2000])[:, 8:].reshape(-1, K), te[:2000, 8:].reshape(-1)).item()
    print(f"maskgit held-out nll {nll:.4f} (cosine-ratio masks), {nll_half:.4f} (second half masked)", flush=True)
    export(net, args, secs, loss.item(), nll, nll_half, te, yt)


def export(net, args, secs, final_loss, nll, nll_half, te, yt):
    out = os.path.join(HERE, "maskgit-digits16")
    os.makedirs(out, exist_ok=True)
    p = os.path.join(out, "model.onnx")
    # fixture: 3 held-out code rows, some positions masked (256), labels incl. the null class
    tk = te[:3].clone()
    tk[0, 5:] = MASK
    tk[1, ::2] = MASK
    tk[2, :] = MASK
    lab = torch.tensor([int(yt[0]), int(yt[1]), NULL])
    with torch.no_grad():
        logits = net(tk, lab)
    torch.onnx.export(net, (tk, lab), p, opset_version=17, input_names=["tokens", "labels"], output_names=["logits"],
                      dynamic_axes={"tokens": {0: "batch"}, "labels": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    write_json(os.path.join(out, "fixture.json"), {
        "note": "PyTorch logits at export: 3 held-out code rows with masked positions (= 256), labels incl. the null class",
        "tokens": tk.flatten().tolist(), "shape": list(tk.shape), "labels": lab.tolist(), "logits": logits.flatten().tolist(),
    })
    write_json(os.path.join(out, "card.json"), {
        "name": "maskgit-digits16",
        "task": "class-conditional masked token transformer (MaskGIT-style, bidirectional) over the 4x4 code grid of vq-digits16",
        "data": "codes of digitsDataset({ count: 60000, size: 16, seed: 1 }) under vq-digits16 (models/export-codes.mjs)",
        "inputs": {"tokens": "int64 [N,16] (0-255 codes; 256 = masked)", "labels": "int64 [N] (0-9; 10 = null class)"},
        "outputs": {"logits": "float32 [N,16,256]"},
        "vocab_size": K, "length": L, "num_classes": 10, "null_class": NULL, "mask_token": MASK,
        "layers": net.layers, "heads": net.h, "d_model": net.d, "opset": 17, "parameters": param_count(net),
        "metrics": {"held_out_nll_per_masked_token": round(nll, 5), "held_out_nll_second_half_masked": round(nll_half, 5)},
        "training": {"script": "models/maskgit.py", "seed": args.seed, "steps": args.steps, "batch": args.batch, "lr": args.lr,
                     "optimizer": "AdamW wd 0.01, 100-step warmup, cosine to 0.1x; grad clip 1.0",
                     "masking": "ratio cos(pi/2 u), u ~ U(0,1); ceil(16 r) positions; loss on masked positions",
                     "p_uncond": args.p_uncond, "threads": args.threads, "seconds": round(secs), "final_loss": round(final_loss, 5)},
        "files": {"model.onnx": {"sha256": sha256(p), "bytes": os.path.getsize(p)}},
    })
    print(f"exported {p}", flush=True)


if __name__ == "__main__":
    main()
