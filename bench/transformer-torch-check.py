#!/usr/bin/python3
"""transformer-torch-check.py -- lmlab's transformer against PyTorch on identical weights.

Builds ../shared/peers/torch_lm.py's GPT, writes its weights and one random batch, runs
bench/transformer-dump (lmlab) on them and compares the mean loss (absolute 1e-5) and every
parameter's gradient (max |difference| / max |torch gradient| per tensor, 1e-4).

  /usr/bin/python3 bench/transformer-torch-check.py [--dump BUILD/bench/transformer-dump]
      [--peer ../shared/peers/torch_lm.py]

Exit status 0 when everything agrees, 1 when something differs, 77 (skipped) without
PyTorch or the peer script.
"""
import argparse
import importlib.util
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--dump", default=os.path.join(HERE, "transformer-dump"))
# ../shared beside the source tree (a worktree may sit one level deeper)
PEERS = [os.path.join(HERE, *[".."] * up, "shared", "peers", "torch_lm.py") for up in (2, 3)]
p.add_argument("--peer", default=next((c for c in PEERS if os.path.exists(c)), PEERS[0]))
args = p.parse_args()

try:
    import torch  # noqa: F401
except ImportError:
    print("SKIP: PyTorch is not installed (apt-get install python3-torch)")
    sys.exit(77)
if not os.path.exists(args.peer):
    print(f"SKIP: peer script {args.peer} not found")
    sys.exit(77)

# torch_lm.py parses its command line when imported: give it a harmless one.
saved_argv = sys.argv
sys.argv = ["torch_lm.py", "--model", "transformer", "--data", os.devnull, "--threads", "1"]
spec = importlib.util.spec_from_file_location("torch_lm", args.peer)
torch_lm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(torch_lm)
sys.argv = saved_argv
import torch.nn.functional as F  # noqa: E402

torch.manual_seed(0)
CASES = [
    # vocab, d, heads, layers, context, bias, B, T
    (65, 128, 4, 4, 64, True, 3, 64),   # B1's shape
    (50, 48, 4, 2, 16, True, 4, 11),    # a window shorter than the context
    (40, 32, 2, 2, 12, False, 2, 12),   # bias=false (nanoGPT's option)
]
# lmlab keeps the untied output layer (d,V), the transpose of torch's head.weight (V,d)
TRANSPOSED = {"head.weight"}


def stored(name, t):
    """a torch tensor laid out as lmlab stores it"""
    return (t.t() if name in TRANSPOSED else t).contiguous()


ok = True
with tempfile.TemporaryDirectory() as tmp:
    for V, d, heads, layers, ctx, bias, B, T in CASES:
        model = torch_lm.GPT(V, d, heads, layers, ctx, bias=bias)
        # move away from the initialisation so every part of the model matters
        with torch.no_grad():
            for prm in model.parameters():
                prm.add_(0.05 * torch.randn_like(prm))
        names = [n for n, _ in model.named_parameters()]
        with open(os.path.join(tmp, "w.bin"), "wb") as f:
            for name, prm in model.named_parameters():
                f.write(stored(name, prm.detach()).numpy().astype("float32").tobytes())
        x = torch.randint(0, V, (B, T))
        y = torch.randint(0, V, (B, T))
        with open(os.path.join(tmp, "b.bin"), "wb") as f:
            f.write(struct.pack("<ii", B, T))
            f.write(x.numpy().astype("int32").tobytes())
            f.write(y.numpy().astype("int32").tobytes())
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        loss.backward()
        cmd = [args.dump, os.path.join(tmp, "w.bin"), os.path.join(tmp, "b.bin"), os.path.join(tmp, "o.bin"),
               f"vocab={V}", f"d={d}", f"heads={heads}", f"layers={layers}", f"context={ctx}",
               f"bias={'true' if bias else 'false'}"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"FAIL: {' '.join(cmd)}: {run.stderr.strip()}")
            sys.exit(1)
        c_names = run.stdout.split()
        if c_names != names:
            print(f"FAIL: parameter order differs:\n  torch {names}\n  lmlab {c_names}")
            sys.exit(1)
        with open(os.path.join(tmp, "o.bin"), "rb") as f:
            c_loss = struct.unpack("<d", f.read(8))[0]
            raw = f.read()
        import numpy as np
        c_grads = np.frombuffer(raw, dtype=np.float32)
        print(f"case V={V} d={d} heads={heads} layers={layers} context={ctx} bias={bias} B={B} T={T}")
        dl = abs(c_loss - loss.item())
        print(f"  loss lmlab {c_loss:.7f} torch {loss.item():.7f} |diff| {dl:.2e}")
        ok &= dl <= 1e-5
        at = 0
        worst = 0.0
        for name, prm in model.named_parameters():
            g = stored(name, prm.grad.detach()).numpy().ravel()
            c = c_grads[at: at + g.size]
            at += g.size
            rel = float(np.max(np.abs(c - g)) / max(np.max(np.abs(g)), 1e-30))
            worst = max(worst, rel)
            if rel > 1e-4:
                print(f"  {name}: max |diff| / max |grad| = {rel:.2e}  FAIL")
                ok = False
        print(f"  gradients: worst max|diff|/max|grad| over {len(names)} tensors {worst:.2e}")
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
