"""VQ tokenizer (16×16 digit → 4×4 tokens) and a class-conditional GPT over the raster token grid.

Train and export (from the repository root; needs models/data from export-data.mjs):
    nice -n 10 /usr/bin/python3 models/vqgpt.py
Writes models/vq-digits16/{encoder,quantizer,decoder}.onnx and models/gpt-digits16/model.onnx, with
card.json and fixture.json in each folder.

VQ graphs: encoder pixel_values f32 [N,1,16,16] → latents f32 [N,8,4,4]; quantizer latents → indices
int64 [N,4,4] (nearest code by cosine similarity, i.e. L2 on unit vectors); decoder indices int64 [N,4,4]
→ sample f32 [N,1,16,16]. Codebook of K = 256 unit vectors of size 8.

GPT (Optimum decoder-with-past layout): input_ids int64 [N,T], attention_mask int64 [N,P+T],
position_ids int64 [N,T], past_key_values.{i}.key|value f32 [N,4,P,32] → logits f32 [N,T,256],
present.{i}.key|value f32 [N,4,P+T,32]. Token ids 0..255 are codes; 256 + c (c = 0..9) is the class
token that starts a sequence, 266 the null class (classifier-free guidance). Sequence: [class, t0..t15].
"""
import argparse
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import HERE, load_digits, param_count, seed_all, sha256, write_json

K, CD = 256, 8
CLASS0, NULL_TOKEN = K, K + 10
VOCAB_IN = K + 11


class VQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.SiLU(),
            nn.Conv2d(64, 96, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(96, CD, 1),
        )
        self.codebook = nn.Parameter(torch.randn(K, CD))
        self.dec = nn.Sequential(
            nn.Conv2d(CD, 96, 3, padding=1), nn.SiLU(),
            nn.Conv2d(96, 96, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            nn.Conv2d(96, 64, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            nn.Conv2d(64, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 1, 3, padding=1),
        )

    def codes(self):
        return F.normalize(self.codebook, dim=1)

    def indices(self, z):
        zn = F.normalize(z, dim=1)  # [N,CD,4,4]
        sim = torch.einsum("nchw,kc->nkhw", zn, self.codes())
        return sim.argmax(1)

    def lookup(self, idx):
        return self.codes()[idx].permute(0, 3, 1, 2)

    def forward(self, x):
        z = self.enc(x)
        zn = F.normalize(z, dim=1)
        idx = self.indices(z)
        q = self.lookup(idx)
        commit = F.mse_loss(zn, q.detach())
        cb = F.mse_loss(q, zn.detach())
        qs = zn + (q - zn).detach()
        return self.dec(qs), idx, commit, cb


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, bias, past_k=None, past_v=None):
        b, t, d = x.shape
        hd = d // self.h
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q = q.reshape(b, t, self.h, hd).transpose(1, 2)
        k = k.reshape(b, t, self.h, hd).transpose(1, 2)
        v = v.reshape(b, t, self.h, hd).transpose(1, 2)
        if past_k is not None:
            k = torch.cat([past_k, k], 2)
            v = torch.cat([past_v, v], 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + bias, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.mlp(self.ln2(x)), k, v


class GPT(nn.Module):
    def __init__(self, d=128, h=4, layers=4, ctx=17):
        super().__init__()
        self.tok = nn.Embedding(VOCAB_IN, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([Block(d, h) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, K)
        self.h, self.d, self.layers = h, d, layers

    def forward(self, input_ids, attention_mask, position_ids, past):
        """past: list of (key, value) [N,h,P,hd]; returns logits and the presents."""
        x = self.tok(input_ids) + self.pos(position_ids)
        total = past[0][0].shape[2] + input_ids.shape[1]
        kpos = torch.arange(total, device=input_ids.device)
        causal = kpos[None, None, :] <= position_ids[:, :, None]  # [N,T,P+T]
        keep = causal & (attention_mask[:, None, :] > 0)
        bias = ((1.0 - keep.float()) * -1e9)[:, None, :, :]
        presents = []
        for blk, (pk, pv) in zip(self.blocks, past):
            x, k, v = blk(x, bias, pk, pv)
            presents.append((k, v))
        return self.head(self.ln(x)), presents

    def empty_past(self, n):
        hd = self.d // self.h
        return [(torch.zeros(n, self.h, 0, hd), torch.zeros(n, self.h, 0, hd)) for _ in range(self.layers)]

    def train_logits(self, seq):
        n, t = seq.shape
        pos = torch.arange(t)[None, :].expand(n, t)
        return self.forward(seq, torch.ones(n, t, dtype=torch.int64), pos, self.empty_past(n))[0]


class GPTExport(nn.Module):
    def __init__(self, gpt):
        super().__init__()
        self.gpt = gpt

    def forward(self, input_ids, attention_mask, position_ids, *flat):
        past = [(flat[2 * i], flat[2 * i + 1]) for i in range(self.gpt.layers)]
        logits, presents = self.gpt(input_ids, attention_mask, position_ids, past)
        out = [logits]
        for k, v in presents:
            out += [k, v]
        return tuple(out)


class Enc(nn.Module):
    def __init__(self, vq):
        super().__init__()
        self.vq = vq

    def forward(self, pixel_values):
        return self.vq.enc(pixel_values)


class Quant(nn.Module):
    def __init__(self, vq):
        super().__init__()
        self.vq = vq

    def forward(self, latents):
        return self.vq.indices(latents)


class Dec(nn.Module):
    def __init__(self, vq):
        super().__init__()
        self.vq = vq

    def forward(self, indices):
        return self.vq.dec(self.vq.lookup(indices))


def train_vq(args, xs, g):
    vq = VQ()
    opt = torch.optim.Adam(vq.parameters(), lr=2e-3)
    t0 = time.time()
    for step in range(args.vq_steps):
        idx = torch.randint(0, xs.shape[0], (args.batch,), generator=g)
        x = xs[idx]
        rec, codes, commit, cb = vq(x)
        loss = F.mse_loss(rec, x) + cb + 0.25 * commit
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 200 == 0 and step < args.vq_steps - 500:
            # re-seed unused codes from current encoder outputs
            with torch.no_grad():
                used = torch.bincount(codes.flatten(), minlength=K)
                dead = (used == 0).nonzero().flatten()
                if len(dead):
                    z = F.normalize(vq.enc(x), dim=1).permute(0, 2, 3, 1).reshape(-1, CD)
                    pick = torch.randint(0, z.shape[0], (len(dead),), generator=g)
                    vq.codebook[dead] = z[pick]
            print(f"vq step {step} loss {loss.item():.4f} rec {F.mse_loss(rec, x).item():.4f} dead {len(dead)} {time.time() - t0:.0f}s", flush=True)
    return vq.eval(), time.time() - t0


def tokenize(vq, xs):
    with torch.no_grad():
        return torch.cat([vq.indices(vq.enc(xs[i : i + 2000])) for i in range(0, xs.shape[0], 2000)]).reshape(xs.shape[0], 16)


def train_gpt(args, toks, ys, g):
    gpt = GPT()
    opt = torch.optim.AdamW(gpt.parameters(), lr=args.lr, weight_decay=0.01)
    warm = 100
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.5 * (1 + math.cos(math.pi * min(s, args.gpt_steps) / args.gpt_steps)) * 0.9 + 0.1)
    )
    t0 = time.time()
    for step in range(args.gpt_steps):
        idx = torch.randint(0, toks.shape[0], (args.batch,), generator=g)
        cls = CLASS0 + ys[idx]
        cls[torch.rand(args.batch, generator=g) < args.p_uncond] = NULL_TOKEN
        seq = torch.cat([cls[:, None], toks[idx]], 1)  # [N,17]
        logits = gpt.train_logits(seq[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, K), seq[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gpt.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.gpt_steps - 1:
            print(f"gpt step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    return gpt.eval(), time.time() - t0, loss.item()


def export_vq(vq, args, secs, xt, yt):
    out = os.path.join(HERE, "vq-digits16")
    os.makedirs(out, exist_ok=True)
    x = xt[:4]
    with torch.no_grad():
        z = vq.enc(x)
        idx = vq.indices(z)
        rec = vq.dec(vq.lookup(idx))
        toks = tokenize(vq, xt)
        recs = torch.cat([vq.dec(vq.lookup(toks[i : i + 2000].reshape(-1, 4, 4))) for i in range(0, xt.shape[0], 2000)])
        mse = F.mse_loss(recs, xt).item()
        usage = int((torch.bincount(toks.flatten(), minlength=K) > 0).sum())
    files = {}
    for name, mod, inp, iname, oname, dyn in [
        ("encoder.onnx", Enc(vq), (x,), "pixel_values", "latents", {"pixel_values": {0: "batch"}, "latents": {0: "batch"}}),
        ("quantizer.onnx", Quant(vq), (z,), "latents", "indices", {"latents": {0: "batch"}, "indices": {0: "batch"}}),
        ("decoder.onnx", Dec(vq), (idx,), "indices", "sample", {"indices": {0: "batch"}, "sample": {0: "batch"}}),
    ]:
        p = os.path.join(out, name)
        torch.onnx.export(mod.eval(), inp, p, opset_version=17, input_names=[iname], output_names=[oname], dynamic_axes=dyn, do_constant_folding=True)
        files[name] = {"sha256": sha256(p), "bytes": os.path.getsize(p)}
    write_json(os.path.join(out, "fixture.json"), {
        "note": "4 held-out digits through the PyTorch VQ at export",
        "pixel_values": x.flatten().tolist(), "shape": list(x.shape),
        "latents": z.flatten().tolist(), "indices": idx.flatten().tolist(), "sample": rec.flatten().tolist(),
    })
    write_json(os.path.join(out, "card.json"), {
        "name": "vq-digits16",
        "task": "VQ tokenizer: 16x16 digit -> 4x4 grid of codes (K=256, cosine codebook of 8-d unit vectors)",
        "data": "train: digitsDataset({ count: 60000, size: 16, seed: 1 }); held-out: digitsDataset({ count: 10000, size: 16, seed: 2 })",
        "inputs": {"encoder.onnx": "pixel_values float32 [N,1,16,16]", "quantizer.onnx": "latents float32 [N,8,4,4]", "decoder.onnx": "indices int64 [N,4,4]"},
        "outputs": {"encoder.onnx": "latents float32 [N,8,4,4]", "quantizer.onnx": "indices int64 [N,4,4]", "decoder.onnx": "sample float32 [N,1,16,16]"},
        "codebook_size": K, "grid": [4, 4], "opset": 17, "parameters": param_count(vq),
        "metrics": {"held_out_reconstruction_mse": round(mse, 5), "codes_used_held_out": usage},
        "training": {"script": "models/vqgpt.py", "seed": args.seed, "steps": args.vq_steps, "batch": args.batch,
                     "optimizer": "Adam 2e-3; commitment 0.25; dead codes re-seeded every 200 steps", "threads": args.threads, "seconds": round(secs)},
        "files": files,
    })
    return mse, usage


def export_gpt(gpt, args, secs, final_loss, test_nll):
    out = os.path.join(HERE, "gpt-digits16")
    os.makedirs(out, exist_ok=True)
    p = os.path.join(out, "model.onnx")
    g = torch.Generator().manual_seed(99)
    n, past_len, t = 2, 5, 3
    hd = gpt.d // gpt.h
    ids = torch.randint(0, K, (n, t), generator=g)
    mask = torch.ones(n, past_len + t, dtype=torch.int64)
    pos = torch.arange(past_len, past_len + t)[None, :].expand(n, t).contiguous()
    past = [(torch.randn(n, gpt.h, past_len, hd, generator=g), torch.randn(n, gpt.h, past_len, hd, generator=g)) for _ in range(gpt.layers)]
    flat = [tns for kv in past for tns in kv]
    names_in = ["input_ids", "attention_mask", "position_ids"]
    names_out = ["logits"]
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"}, "position_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
    for i in range(gpt.layers):
        for kv in ("key", "value"):
            names_in.append(f"past_key_values.{i}.{kv}")
            names_out.append(f"present.{i}.{kv}")
            dyn[f"past_key_values.{i}.{kv}"] = {0: "batch", 2: "past"}
            dyn[f"present.{i}.{kv}"] = {0: "batch", 2: "total"}
    exp = GPTExport(gpt).eval()
    torch.onnx.export(exp, (ids, mask, pos, *flat), p, opset_version=17, input_names=names_in, output_names=names_out, dynamic_axes=dyn, do_constant_folding=True)
    # fixture: a class-3 prefix [class, 4 codes] run without cache, then one more token with the cache
    seq = torch.tensor([[CLASS0 + 3, 17, 200, 5, 99], [NULL_TOKEN, 1, 2, 3, 4]])
    with torch.no_grad():
        full, pres = gpt(seq, torch.ones(2, 5, dtype=torch.int64), torch.arange(5)[None, :].expand(2, 5).contiguous(), gpt.empty_past(2))
        nxt = torch.tensor([[42], [7]])
        step_logits, _ = gpt(nxt, torch.ones(2, 6, dtype=torch.int64), torch.tensor([[5], [5]]), pres)
    write_json(os.path.join(out, "fixture.json"), {
        "note": "PyTorch logits at export: input_ids (no past) then one cached step with next_ids",
        "input_ids": seq.flatten().tolist(), "shape": list(seq.shape), "logits": full.flatten().tolist(),
        "next_ids": nxt.flatten().tolist(), "step_logits": step_logits.flatten().tolist(),
    })
    write_json(os.path.join(out, "card.json"), {
        "name": "gpt-digits16",
        "task": "class-conditional GPT over the 4x4 raster code grid of vq-digits16 (KV cache, Optimum layout)",
        "data": "codes of digitsDataset({ count: 60000, size: 16, seed: 1 }) under vq-digits16",
        "inputs": {"input_ids": "int64 [N,T] (0-255 codes; 256+c class token; 266 null class)", "attention_mask": "int64 [N,P+T]",
                   "position_ids": "int64 [N,T]", "past_key_values.{i}.key|value": "float32 [N,4,P,32], i = 0..3"},
        "outputs": {"logits": "float32 [N,T,256]", "present.{i}.key|value": "float32 [N,4,P+T,32]"},
        "vocab_size": K, "class_token_offset": CLASS0, "null_class_token": NULL_TOKEN, "num_classes": 10,
        "layers": gpt.layers, "heads": gpt.h, "d_model": gpt.d, "context": 17, "opset": 17, "parameters": param_count(gpt),
        "metrics": {"held_out_nll_per_token": round(test_nll, 5)},
        "training": {"script": "models/vqgpt.py", "seed": args.seed, "steps": args.gpt_steps, "batch": args.batch, "lr": args.lr,
                     "optimizer": "AdamW wd 0.01, 100-step warmup, cosine to 0.1x; grad clip 1.0", "p_uncond": args.p_uncond,
                     "threads": args.threads, "seconds": round(secs), "final_loss": round(final_loss, 5)},
        "files": {"model.onnx": {"sha256": sha256(p), "bytes": os.path.getsize(p)}},
    })


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vq-steps", type=int, default=1500)
    ap.add_argument("--gpt-steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--p-uncond", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    seed_all(args.seed, args.threads)
    g = torch.Generator().manual_seed(args.seed)
    xs, ys = load_digits("train")
    xt, yt = load_digits("test")
    vq, vq_s = train_vq(args, xs, g)
    mse, usage = export_vq(vq, args, vq_s, xt, yt)
    print(f"vq held-out mse {mse:.4f}, codes used {usage}", flush=True)
    toks = tokenize(vq, xs)
    gpt, gpt_s, final = train_gpt(args, toks, ys, g)
    with torch.no_grad():
        tt = tokenize(vq, xt)[:2000]
        seq = torch.cat([(CLASS0 + yt[:2000])[:, None], tt], 1)
        nll = F.cross_entropy(gpt.train_logits(seq[:, :-1]).reshape(-1, K), seq[:, 1:].reshape(-1)).item()
    print(f"gpt held-out nll {nll:.4f}", flush=True)
    export_gpt(gpt, args, gpt_s, final, nll)


if __name__ == "__main__":
    main()
