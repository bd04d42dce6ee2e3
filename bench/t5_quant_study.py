"""T5-XXL weight-only quantisation study (CPU, torch fake-quant): which int4 scheme keeps the
encoder's output close to fp32 on random full-size weights.

Mirrors the T5 section of bench/gpu/models_reference.py: transformers' own T5EncoderModel(config)
initialisation (seed 0; made on the CPU, so the values differ from the GPU-made checkpoint but the
distribution is the same), bf16 weights, ids/mask from Generator seed 11 ([2, 120], row 0 one
token, row 1 25 tokens, padded ids 0), reference = the fp32 forward of those bf16 weights. Each
scheme replaces the blocks' linear weights (q, k, v, o, wi_0, wi_1, wo; embedding, relative
attention bias and norms untouched, as native/models/t5) by their dequantised values and runs
the same forward in fp32 (or with bf16 activations, --bf16-act), one block at a time (the bf16
weights stay in a memory-mapped safetensors cache, one block goes to fp32 at a time). Cosine is
over the whole [2, 120, 4096] output flattened, as cuda_bench.cpp's diff().

Row 0 has one valid token: its 119 padded queries only see key 0, so they stay identical through
every block; they are computed once (exact) and counted 119 times in the cosine.

  PYTHONPATH=/work/pydeps python3 bench/t5_quant_study.py --cache /tmp/t5q [--layers 24] \\
      [--schemes base,g32,...] [--check-hf]   # --check-hf: the forward against transformers' (2 layers)

Prints one JSON line per scheme: cosine, and the bytes the GPU would hold for the weights
(quantised payload + scales + whatever stays wider + the bf16 embedding table).
"""
import argparse
import json
import math
import os
import sys
import time

import torch

torch.set_num_threads(int(os.environ.get('THREADS', '2')))
CONFIG = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'configs', 'PixArt-XL-2-1024-MS',
                      'text_encoder')
KINDS = ('q', 'k', 'v', 'o', 'wi_0', 'wi_1', 'wo')


def log(**kw):
    print(json.dumps(kw), flush=True)


# ---------------------------------------------------------------- weights


def make_cache(cfg, path):
    """transformers' init, made in bf16 (the default dtype while constructing), saved once."""
    from safetensors.torch import save_file
    from transformers import T5EncoderModel
    t0 = time.time()
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    try:
        model = T5EncoderModel(cfg)
    finally:
        torch.set_default_dtype(torch.float32)
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k != 'encoder.embed_tokens.weight'}
    save_file(sd, path)
    log(what='weights made', s=round(time.time() - t0), params=sum(v.numel() for v in sd.values()))


# ---------------------------------------------------------------- quantisers (fp32 in, dequantised fp32 out)


FQ_SRC = r"""
#include <algorithm>
#include <cmath>
#include <cstdint>
// Fake quantisers, one row of groups per task: out = the dequantised weight. Same float32
// arithmetic as native/core/quant.cpp for 'sym' with clip 1 (s = amax / 7, rint, clamp).
extern "C" void fq_int8(const float* w, int64_t N, int64_t K, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++) {
    const float* x = w + n * K;
    float amax = 0.f;
    for (int64_t k = 0; k < K; k++) amax = std::max(amax, std::fabs(x[k]));
    const float s = amax / 127.f;
    for (int64_t k = 0; k < K; k++)
      out[n * K + k] = s > 0.f ? std::max(-127.f, std::min(127.f, std::rint(x[k] / s))) * s : 0.f;
  }
}
// mode 0: sym [-7, 7], s = c * amax / 7; 1: sym8 [-8, 7], s = c * m / -8 (m: signed extreme);
// 2: asym [0, 15] with zero point; 3: table (16 levels in [-1, 1]) times s = c * amax;
// 4: [-8, 7] with a positive s = c * amax / 7.
// Several clips: each group keeps the one with the least squared error. fp16_scale: s rounded to fp16.
template <int mode>
static void group(const float* x, int64_t g, const float* clips, int nclips, const float* levels, int fp16_scale,
                  float* o) {
  float amax = 0.f, m = 0.f, mn = x[0], mx = x[0];
  for (int64_t k = 0; k < g; k++) {
    const float a = std::fabs(x[k]);
    if (a > amax) { amax = a; m = x[k]; }
    mn = std::min(mn, x[k]);
    mx = std::max(mx, x[k]);
  }
  float tmp[1024];
  float best = INFINITY;
  for (int ci = 0; ci < nclips; ci++) {
    const float c = clips[ci];
    float s;
    if (mode == 0 || mode == 4) s = c == 1.f ? amax / 7.f : (amax * c) / 7.f;
    else if (mode == 1) s = (m * c) / -8.f;
    else if (mode == 2) s = (mx * c - mn * c) / 15.f;
    else s = amax * c;
    if (fp16_scale) s = float(_Float16(s));
    if (s == 0.f) {
      std::fill(o, o + g, 0.f);
      return;
    }
    const float lo = mode == 0 ? -7.f : mode == 2 ? 0.f : -8.f, hi = mode == 2 ? 15.f : 7.f;
    const float z = mode == 2 ? std::rint(-(mn * c) / s) : 0.f;
    float err = 0.f;
    for (int64_t k = 0; k < g; k++) {
      float d;
      if (mode == 3) {
        const float v = x[k] / s;
        int i = 0;
        while (i < 15 && v > 0.5f * (levels[i] + levels[i + 1])) i++;
        d = levels[i] * s;
      } else {
        d = (std::max(lo, std::min(hi, std::rint(x[k] / s) + z)) - z) * s;
      }
      tmp[k] = d;
      err += (d - x[k]) * (d - x[k]);
    }
    if (ci == 0 || err < best) {
      best = err;
      std::copy(tmp, tmp + g, o);
    }
  }
}
extern "C" void fq_group(const float* w, int64_t N, int64_t K, int64_t g, int mode, const float* clips, int nclips,
                         const float* levels, int fp16_scale, float* out) {
  const int64_t G = K / g;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < N * G; t++) {
    const float* x = w + t * g;
    float* o = out + t * g;
    switch (mode) {
      case 0: group<0>(x, g, clips, nclips, levels, fp16_scale, o); break;
      case 1: group<1>(x, g, clips, nclips, levels, fp16_scale, o); break;
      case 2: group<2>(x, g, clips, nclips, levels, fp16_scale, o); break;
      case 3: group<3>(x, g, clips, nclips, levels, fp16_scale, o); break;
      default: group<4>(x, g, clips, nclips, levels, fp16_scale, o); break;
    }
  }
}
"""

_FQ = None


def fq_lib():
    global _FQ
    if _FQ is None:
        import ctypes
        import hashlib
        import subprocess
        import tempfile
        d = os.path.join(tempfile.gettempdir(), 't5_quant_study_%s' % hashlib.sha1(FQ_SRC.encode()).hexdigest()[:12])
        so = os.path.join(d, 'fq.so')
        if not os.path.exists(so):
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, 'fq.cpp'), 'w') as fh:
                fh.write(FQ_SRC)
            subprocess.check_call(['g++', '-O3', '-march=native', '-fopenmp', '-shared', '-fPIC',
                                   os.path.join(d, 'fq.cpp'), '-o', so + '.tmp'])
            os.rename(so + '.tmp', so)
        _FQ = ctypes.CDLL(so)
    return _FQ


def _p(t):
    import ctypes
    return ctypes.c_void_p(t.data_ptr())


def q_int8(w):
    import ctypes
    w = w.contiguous()
    out = torch.empty_like(w)
    fq_lib().fq_int8(_p(w), ctypes.c_int64(w.shape[0]), ctypes.c_int64(w.shape[1]), _p(out))
    return out


MODES = {'sym': 0, 'sym8': 1, 'asym': 2, 'nf4': 3, 'sym8p': 4}


def q_group(w, g=64, mode='sym', clips=(1.0,), levels=None, fp16_scale=False):
    """Group-wise int4 along K (rows of w are output channels).

    mode 'sym': s = c * amax / 7, q in [-7, 7] (today's, c = 1)
    mode 'sym8': s = c * m / -8 with m the signed value of largest magnitude, q in [-8, 7]
                 (the extreme lands on -8 exactly; same storage: one signed scale)
    mode 'asym': s = (max - min) / 15, zero point z = round(-min / s), q in [0, 15]
    mode 'nf4':  16 fixed levels in [-1, 1] (NormalFloat) times s = amax
    mode 'sym8p': s = c * amax / 7 (positive), q in [-8, 7]: today's storage, one more level below
    With several clips, each group takes the one with the least squared error (load-time, no data).
    """
    import ctypes
    w = w.contiguous()
    N, K = w.shape
    assert K % g == 0 and g <= 1024
    out = torch.empty_like(w)
    cl = torch.tensor(clips, dtype=torch.float32)
    lv = (levels if levels is not None else torch.zeros(16)).float().contiguous()
    fq_lib().fq_group(_p(w), ctypes.c_int64(N), ctypes.c_int64(K), ctypes.c_int64(g), ctypes.c_int(MODES[mode]),
                      _p(cl), ctypes.c_int(len(clips)), _p(lv), ctypes.c_int(int(fp16_scale)), _p(out))
    return out


def q_group_torch(w, g=64):
    """Today's int4 in plain torch ops (cross-check of the C++ one)."""
    x = w.reshape(w.shape[0], -1, g)
    s = x.abs().amax(-1, keepdim=True) / 7
    return (torch.where(s > 0, torch.round(x / s), torch.zeros_like(x)).clamp_(-7, 7) * s).reshape(w.shape)


NF4 = torch.tensor([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                    0.7229568362236023, 1.0])

CLIPS = (1.0, 0.95, 0.9, 0.85, 0.8)


def int4_bytes(N, K, g=64, scale_bytes=4, zp_bits=0):
    groups = N * ((K + g - 1) // g)
    return N * ((K + 1) // 2) + groups * scale_bytes + (groups * zp_bits + 7) // 8


def int8_bytes(N, K):
    return N * K + N * 4


# A scheme: kind/layer -> ('int4', kwargs, byte kwargs) | ('int8',) | ('fp',) ; plus a name.
def scheme(name, default, exceptions=None, layers_fp=None):
    """default: spec for every block linear; exceptions: {kind or (kind, layer) or layer: spec}."""
    exceptions = exceptions or {}

    def spec(kind, layer):
        for key in ((kind, layer), kind, layer):
            if key in exceptions:
                return exceptions[key]
        return default
    return name, spec


def I4(**kw):
    bk = {}
    if 'scale_bytes' in kw:
        bk['scale_bytes'] = kw.pop('scale_bytes')
        kw['fp16_scale'] = bk['scale_bytes'] == 2
    if kw.get('mode') == 'asym':
        bk['zp_bits'] = 4
    return ('int4', kw, bk)


INT8, FP = ('int8',), ('fp',)


def apply(spec, w):
    if spec[0] == 'fp':
        return w
    if spec[0] == 'int8':
        return q_int8(w)
    kw = dict(spec[1])
    if kw.get('mode') == 'nf4':
        kw['levels'] = NF4
    return q_group(w, **kw)


def spec_bytes(spec, N, K):
    if spec[0] == 'fp':
        return N * K * 2
    if spec[0] == 'int8':
        return int8_bytes(N, K)
    return int4_bytes(N, K, g=spec[1].get('g', 64), **spec[2])


def all_schemes(n_layers):
    S = {}

    def add(name, default, exceptions=None):
        S[name] = scheme(name, default, exceptions)[1]
    add('fp32', FP)
    add('int8', INT8)
    add('base', I4())                              # today's: g64, amax/7, round-half-even, [-7, 7]
    add('g32', I4(g=32))
    add('g128', I4(g=128))
    add('g16', I4(g=16))
    add('g32_f16s', I4(g=32, scale_bytes=2))
    add('sym8', I4(mode='sym8'))                   # full [-8, 7] range, signed scale
    add('asym', I4(mode='asym'))
    add('mse', I4(clips=CLIPS))                    # per-group clip search, [-7, 7]
    add('sym8_mse', I4(mode='sym8', clips=CLIPS))
    add('sym8p_mse', I4(mode='sym8p', clips=CLIPS))
    add('g32_sym8_mse', I4(g=32, mode='sym8', clips=CLIPS))
    add('nf4', I4(mode='nf4'))
    # one kind at a time (the rest fp32): sensitivity
    for k in KINDS:
        add('only_' + k, FP, {k: I4()})
    # layer ranges at int4 (the rest fp32)
    for a in range(0, n_layers, 6):
        add('layers_%d_%d' % (a, min(n_layers, a + 6) - 1), FP, {l: I4() for l in range(a, min(n_layers, a + 6))})
    for l in range(min(n_layers, 6)):
        add('layer_%d' % l, FP, {l: I4()})
    # int8 exceptions in an int4 model
    for k in KINDS:
        add('int4_but_%s_int8' % k, I4(), {k: INT8})
    add('int4_but_attn_int8', I4(), {k: INT8 for k in ('q', 'k', 'v', 'o')})
    add('int4_but_ff_int8', I4(), {k: INT8 for k in ('wi_0', 'wi_1', 'wo')})
    add('int4_but_qk_int8', I4(), {'q': INT8, 'k': INT8})
    add('int4_but_vo_wo_int8', I4(), {'v': INT8, 'o': INT8, 'wo': INT8})
    # mixed int8/int4 by depth: layers < a all int8, layers < b all but q/k int8, v/o int8 everywhere
    def mixed(name, a, b, int4=I4(), vo=True):
        exc = {}
        for l in range(n_layers):
            for k in KINDS:
                if l < a or (l < b and k not in ('q', 'k')) or (vo and k in ('v', 'o')):
                    exc[(k, l)] = INT8
        add(name, int4, exc)
    mixed('mix_0_0', 0, 0)                          # v/o int8 only
    mixed('mix_0_12', 0, n_layers // 2)             # + FF in the first half
    mixed('mix_3_9', 3, 9)
    mixed('mix_4_12', n_layers // 6, n_layers // 2)
    mixed('mix_6_12', n_layers // 4, n_layers // 2)
    mixed('mix_4_12_sym8mse', n_layers // 6, n_layers // 2, I4(mode='sym8', clips=CLIPS))
    mixed('mix_4_16', n_layers // 6, 2 * n_layers // 3)
    return S


# ---------------------------------------------------------------- the forward


def rel_bucket(rel, num_buckets, max_distance):
    from transformers.models.t5.modeling_t5 import T5Attention
    return T5Attention._relative_position_bucket(rel, bidirectional=True, num_buckets=num_buckets,
                                                 max_distance=max_distance)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Act:
    """Activation precision: fp32, or rounded to bf16 at every op output (the bf16 engine)."""

    def __init__(self, bf16):
        self.bf16 = bf16

    def __call__(self, t):
        return t.to(torch.bfloat16).float() if self.bf16 else t


def rms(x, w, eps, r):
    var = x.pow(2).mean(-1, keepdim=True)
    return r(w * (x * torch.rsqrt(var + eps)))


class Rows:
    """The distinct token rows: row 0 positions 0 and 1 (1 standing for 1..119), row 1 all 120."""

    def __init__(self, ids, mask, cfg, rel_table, dedupe=True):
        self.B, self.L = ids.shape
        self.rows = []  # (query positions, key positions, key valid, ids)
        for b in range(self.B):
            valid = int(mask[b].sum())
            pos = torch.arange(self.L)
            if dedupe and valid == 1 and bool(mask[b, 0]) and self.L > 2:
                pos = torch.tensor([0, 1])
            self.rows.append((pos, mask[b][pos].bool(), ids[b][pos]))
        self.counts = []
        for pos, _, _ in self.rows:
            c = torch.ones(len(pos))
            if len(pos) == 2 and self.L > 2:
                c[1] = self.L - 1
            self.counts.append(c)
        H = cfg.num_heads
        self.bias = []
        for pos, kvalid, _ in self.rows:
            bk = rel_bucket(pos[None, :] - pos[:, None], cfg.relative_attention_num_buckets,
                            cfg.relative_attention_max_distance)
            pb = rel_table[bk].permute(2, 0, 1)  # [H, Lq, Lk]
            pb = pb + torch.where(kvalid, 0.0, torch.finfo(torch.float32).min)[None, None, :]
            self.bias.append(pb)
        self.sizes = [len(p) for p, _, _ in self.rows]

    def expand(self, x):
        """[sum sizes, D] -> [B, L, D] with the deduplicated rows repeated."""
        out = []
        for i, part in enumerate(torch.split(x, self.sizes)):
            if self.sizes[i] == self.L:
                out.append(part)
            else:
                out.append(torch.cat([part[:1], part[1:2].expand(self.L - 1, -1)]))
        return torch.stack(out)


def block_forward(x, W, rows, cfg, r):
    """x [T, D] (all rows' tokens); W: dict of fp32 weights of the block."""
    eps, H, dk = cfg.layer_norm_epsilon, cfg.num_heads, cfg.d_kv
    h = rms(x, W['ln0'], eps, r)
    q, k, v = r(h @ W['q'].T), r(h @ W['k'].T), r(h @ W['v'].T)
    outs = []
    for (qi, ki, vi), bias in zip(zip(torch.split(q, rows.sizes), torch.split(k, rows.sizes), torch.split(v, rows.sizes)),
                                 rows.bias):
        n = qi.shape[0]
        qh, kh, vh = (t.view(n, H, dk).transpose(0, 1) for t in (qi, ki, vi))
        s = qh @ kh.transpose(1, 2) + bias
        a = torch.softmax(s, dim=-1)
        outs.append(r((a @ vh).transpose(0, 1).reshape(n, H * dk)))
    x = r(x + torch.cat(outs) @ W['o'].T)
    h = rms(x, W['ln1'], eps, r)
    inner = r(r(gelu_new(r(h @ W['wi_0'].T))) * r(h @ W['wi_1'].T))
    return r(x + inner @ W['wo'].T)


def block_weights(f, i):
    p = 'encoder.block.%d.' % i
    a, ff = p + 'layer.0.SelfAttention.', p + 'layer.1.DenseReluDense.'
    W = {'ln0': f.get_tensor(p + 'layer.0.layer_norm.weight').float(),
         'ln1': f.get_tensor(p + 'layer.1.layer_norm.weight').float()}
    for k in ('q', 'k', 'v', 'o'):
        W[k] = f.get_tensor(a + k + '.weight').float()
    for k in ('wi_0', 'wi_1', 'wo'):
        W[k] = f.get_tensor(ff + k + '.weight').float()
    return W


def cosine(got, ref, w):
    """cuda_bench.cpp diff(): sums over every element, in double; w: each row's count."""
    g, r = got.double(), ref.double()
    w = w.double()[:, None]
    dot = (w * g * r).sum()
    return float(dot / torch.sqrt((w * g * g).sum() * (w * r * r).sum()))


def run(names, schemes, f, cfg, rows, emb0, n_layers, bf16_act=False):
    """All the schemes through the blocks side by side; a scheme runs from the fp32 reference's
    state until its first quantised layer."""
    r = Act(bf16_act)
    ref_name = 'fp32'
    x0 = r(emb0)
    hid = {n: None for n in names}
    ref = x0
    nbytes = {n: 0 for n in names}
    t_q = {n: 0.0 for n in names}
    t0 = time.time()
    for i in range(n_layers):
        W = block_weights(f, i)
        ref_next = block_forward(ref, W, rows, cfg, Act(False))
        for n in names:
            spec = schemes[n]
            specs = {k: spec(k, i) for k in KINDS}
            for k in KINDS:
                nbytes[n] += spec_bytes(specs[k], *W[k].shape)
            quantised = any(s[0] != 'fp' for s in specs.values())
            if hid[n] is None and not quantised and not bf16_act:
                continue  # still on the reference
            if hid[n] is None:
                hid[n] = ref if not bf16_act else x0
                if bf16_act and i > 0:
                    raise RuntimeError('bf16 activations need the scheme from layer 0')
            tq = time.time()
            Wq = dict(W)
            for k in KINDS:
                Wq[k] = apply(specs[k], W[k])
            t_q[n] += time.time() - tq
            hid[n] = block_forward(hid[n], Wq, rows, cfg, r)
            del Wq
        ref = ref_next
        del W
        log(what='layer', i=i, s=round(time.time() - t0))
    fin = f.get_tensor('encoder.final_layer_norm.weight').float()
    ref_out = rms(ref, fin, cfg.layer_norm_epsilon, Act(False))
    counts = torch.cat(rows.counts)
    res = {}
    emb_bytes = cfg.vocab_size * cfg.d_model * 2
    for n in names:
        out = ref_out if hid[n] is None else rms(hid[n], fin, cfg.layer_norm_epsilon, r)
        res[n] = dict(scheme=n, cosine=round(cosine(out, ref_out, counts), 6), bf16_act=bf16_act,
                      block_bytes=nbytes[n], total_bytes=nbytes[n] + emb_bytes, quant_s=round(t_q[n], 1))
    return res, ref_out


def inputs(L=120):
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(5, 32000, (2, L), generator=g, dtype=torch.int64)
    mask = torch.zeros(2, L, dtype=torch.int64)
    mask[0, :1] = 1
    mask[1, :25] = 1
    ids[mask == 0] = 0
    return ids, mask


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cache', required=True, help='folder for the bf16 weights (made once)')
    ap.add_argument('--layers', type=int, default=0, help='0: the config\'s 24')
    ap.add_argument('--depth', type=int, default=0, help='run only the first N blocks (screening); 0: all')
    ap.add_argument('--schemes', default='base')
    ap.add_argument('--bf16-act', action='store_true')
    ap.add_argument('--check-hf', action='store_true')
    args = ap.parse_args()
    from safetensors import safe_open
    from transformers import T5Config
    cfg = T5Config.from_pretrained(CONFIG)
    if args.layers:
        cfg.num_layers = args.layers
    os.makedirs(args.cache, exist_ok=True)
    path = os.path.join(args.cache, 't5_%dl_bf16.safetensors' % cfg.num_layers)
    if not os.path.exists(path):
        make_cache(cfg, path + '.tmp')
        os.rename(path + '.tmp', path)
    ids, mask = inputs()
    with safe_open(path, 'pt') as f, torch.no_grad():
        rel = f.get_tensor('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight').float()
        emb = f.get_tensor('shared.weight')
        if args.check_hf:
            check_hf(f, cfg, ids, mask, rel, emb)
            return
        rows = Rows(ids, mask, cfg, rel)
        emb0 = torch.cat([emb[row_ids].float() for _, _, row_ids in rows.rows])
        schemes = all_schemes(cfg.num_layers)
        names = args.schemes.split(',')
        for n in names:
            if n not in schemes:
                sys.exit('unknown scheme %s; known: %s' % (n, ','.join(schemes)))
        res, _ = run(names, schemes, f, cfg, rows, emb0, args.depth or cfg.num_layers, args.bf16_act)
        for n in names:
            log(depth=args.depth or cfg.num_layers, **res[n])


def check_hf(f, cfg, ids, mask, rel, emb):
    """Our forward (deduplicated rows, fp32) against transformers' fp32 model on the same weights."""
    from transformers import T5EncoderModel
    model = T5EncoderModel(cfg).eval()
    sd = {k: f.get_tensor(k).float() for k in f.keys()}
    sd['encoder.embed_tokens.weight'] = sd['shared.weight']
    model.load_state_dict(sd)
    hf = model(input_ids=ids, attention_mask=mask).last_hidden_state
    for dedupe in (False, True):
        rows = Rows(ids, mask, cfg, rel, dedupe=dedupe)
        emb0 = torch.cat([emb[row_ids].float() for _, _, row_ids in rows.rows])
        x = emb0
        for i in range(cfg.num_layers):
            x = block_forward(x, block_weights(f, i), rows, cfg, Act(False))
        out = rows.expand(rms(x, f.get_tensor('encoder.final_layer_norm.weight').float(), cfg.layer_norm_epsilon,
                              Act(False)))
        log(what='check_hf', dedupe=dedupe, max_abs=float((out - hf).abs().max()), hf_absmax=float(hf.abs().max()),
            cosine=cosine(out.reshape(-1, out.shape[-1]), hf.reshape(-1, hf.shape[-1]), torch.ones(out.shape[0] * out.shape[1])))


if __name__ == '__main__':
    sys.exit(main())
