#!/usr/bin/python3
"""recurrent-agree.py -- lmlab's rnn, lstm and gru against PyTorch on identical weights.

For each model, bench/recurrent-agree (a small C program built with lmlab) writes a
freshly initialised model, two batches of random tokens, the losses of both batches
(the second starting from the state the first left) and the gradients of the second.
This script loads the same weights into PyTorch's layout -- nn.Embedding, nn.RNN(tanh) /
nn.LSTM / nn.GRU with their gate order and both bias vectors b_ih, b_hh, nn.Linear, as
in ../shared/peers/torch_lm.py's RecurrentLM -- runs the same two batches in float64
(the reference) and compares:

  loss      |lmlab - torch| <= 1e-5 nats/token, for both batches
  gradient  max |lmlab - torch| / max |torch| <= 1e-4, for every tensor

Exit status 0 when everything agrees, 1 when something does not, 77 (skip) when
PyTorch is not installed.

  bench/recurrent-agree.py [--builddir DIR] [--models rnn,lstm,gru] [KEY=VALUE ...]
"""
import argparse
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # CI need not install PyTorch
    print(f"SKIP: PyTorch is not available ({e}); apt-get install python3-torch")
    sys.exit(77)

LOSS_TOL = 1e-5
GRAD_TOL = 1e-4


class RecurrentLM(nn.Module):
    """The peer's layout: embed, rnn, out."""

    def __init__(self, kind, vocab, emb, hidden, layers):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        kw = {"nonlinearity": "tanh"} if kind == "rnn" else {}
        self.rnn = cls(emb, hidden, num_layers=layers, **kw)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x, state):  # x: [T, B]
        h, state = self.rnn(self.embed(x), state)
        return self.out(h), state


def detach(state):
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def read_dump(d):
    layout = []
    with open(os.path.join(d, "layout.tsv")) as f:
        for line in f:
            name, shape, offset = line.rstrip("\n").split("\t")
            layout.append((name, tuple(int(x) for x in shape.split("x")), int(offset)))
    params = np.fromfile(os.path.join(d, "params.f32"), dtype="<f4")
    grads = np.fromfile(os.path.join(d, "grads.f32"), dtype="<f4")
    with open(os.path.join(d, "result.txt")) as f:
        B, T, V = (int(x) for x in f.readline().split())
        losses = [float(f.readline()), float(f.readline())]
    tokens = np.fromfile(os.path.join(d, "batches.i32"), dtype="<i4").reshape(4, B, T)
    return layout, params, grads, (B, T, V), losses, tokens


def tensor_of(flat, shape, offset):
    n = int(np.prod(shape))
    return torch.from_numpy(flat[offset: offset + n].astype(np.float64).reshape(shape))


# lmlab stores these as the transpose of PyTorch's tensor (rnn/lm-recurrent.h)
TRANSPOSED = {"out.weight"}


def torch_layout(name, t):
    return t.t().contiguous() if name in TRANSPOSED else t


def check(kind, builddir, settings):
    with tempfile.TemporaryDirectory(prefix="lmlab-agree-") as d:
        tool = os.path.join(builddir, "bench", "recurrent-agree")
        subprocess.run([tool, kind, d] + settings, check=True)
        layout, params, grads, (B, T, V), losses, tokens = read_dump(d)

    shapes = {name: shape for name, shape, _ in layout}
    emb = shapes["embed.weight"][1]
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    hidden = shapes["rnn.weight_hh_l0"][1]
    layers = sum(1 for name in shapes if name.startswith("rnn.weight_ih_l"))
    assert shapes["rnn.weight_hh_l0"][0] == gates * hidden

    torch.manual_seed(0)
    model = RecurrentLM(kind, V, emb, hidden, layers).double()
    named = dict(model.named_parameters())
    if set(named) != set(shapes):
        raise SystemExit(f"{kind}: parameter names differ: lmlab {sorted(shapes)}, torch {sorted(named)}")
    with torch.no_grad():
        for name, shape, offset in layout:
            want = tuple(reversed(shape)) if name in TRANSPOSED else shape
            if tuple(named[name].shape) != want:
                raise SystemExit(f"{kind}: {name} is {shape} in lmlab, {tuple(named[name].shape)} in torch")
            named[name].copy_(torch_layout(name, tensor_of(params, shape, offset)))

    # batches are (B,T) rows; torch's recurrent layers take [T, B]
    x1, y1, x2, y2 = (torch.from_numpy(t.astype(np.int64)).t().contiguous() for t in tokens)
    logits, state = model(x1, None)
    loss1 = F.cross_entropy(logits.reshape(-1, V), y1.reshape(-1))
    logits, _ = model(x2, detach(state))
    loss2 = F.cross_entropy(logits.reshape(-1, V), y2.reshape(-1))
    model.zero_grad()
    loss2.backward()

    ok = True
    report = []
    for i, (mine, ref) in enumerate(zip(losses, (loss1.item(), loss2.item()))):
        diff = abs(mine - ref)
        ok &= diff <= LOSS_TOL
        report.append(f"  loss of batch {i + 1}: lmlab {mine:.10f}  torch {ref:.10f}  |diff| {diff:.2e}")
    worst = 0.0
    for name, shape, offset in layout:
        ref = named[name].grad.numpy()
        mine = torch_layout(name, tensor_of(grads, shape, offset)).numpy()
        scale = max(np.abs(ref).max(), 1e-30)
        rel = np.abs(mine - ref).max() / scale
        worst = max(worst, rel)
        ok &= rel <= GRAD_TOL
        report.append(f"  grad {name:22s} {'x'.join(map(str, shape)):>10s}  max|diff|/max|g| {rel:.2e}")
    status = "agrees" if ok else "DISAGREES"
    print(f"{kind}: {status} with PyTorch (B={B} T={T} V={V} E={emb} H={hidden} L={layers}; "
          f"worst gradient {worst:.2e})")
    print("\n".join(report))
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--builddir", default=".", help="where bench/recurrent-agree was built")
    p.add_argument("--models", default="rnn,lstm,gru")
    p.add_argument("settings", nargs="*", help="KEY=VALUE passed to the model (defaults: "
                   "layers=2 hidden=24 emb=16 batch=4 context=9 symbols=40)")
    a = p.parse_args()
    settings = ["layers=2", "hidden=24", "emb=16", "init=0.3"] + a.settings
    torch.set_num_threads(1)
    ok = all([check(kind, a.builddir, settings) for kind in a.models.split(",")])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
