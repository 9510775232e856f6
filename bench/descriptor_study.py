"""Fusing two encoders' normalised similarities on the `eval copies` set-up (numpy).

A replica of `lookalike eval copies` scoring (micro-AP over the top 20 of every copy and
every distractor query, recall at precision 0.90 / 0.99, recall@1 per edit) on descriptors
dumped with examples/dump_descriptors.rs, for studies the CLI does not offer: scoring a pair
by `w * norm_a + (1 - w) * norm_b`, and by the best over the query's quarter-turn rotations.

DUMPS (default target/study) holds, for PRE in `d` (trained default, 256-d) and `i`
(ImageNet, 1280-d), in the order of the lists:
  PRE_orig.f32    target/data/camera-photos/*            (list: orig.txt)
  PRE_copies.f32  the copies of `eval copies --save-copies DIR` (seed 1; list: copies.txt)
  PRE_val.f32     target/data/imagenette/val (distractors)
  PRE_train.f32   target/data/imagenette/train (background set)
  PRE_rot_copies_R.f32, PRE_rot_val_R.f32 for R in 90 180 270 (optional): the same images
                  rotated by R degrees
each made by `cargo run --release --example dump_descriptors -- MODEL LIST OUT` with MODEL
`default` or `imagenet`. Usage: python3 bench/descriptor_study.py
"""
import os
import numpy as np

DUMPS = os.environ.get("DUMPS", "target/study")
DIMS = {"d": 256, "i": 1280}
ROTATIONS = (90, 180, 270)


def load(name, dim):
    return np.fromfile(os.path.join(DUMPS, f"{name}.f32"), dtype="<f4").reshape(-1, dim)


def curve(scores, positive, npos):
    o = np.argsort(-scores, kind="stable")
    s, p = scores[o], positive[o]
    tp = np.cumsum(p)
    seen = np.arange(1, len(s) + 1)
    last = np.r_[s[1:] != s[:-1], True]
    return s[last], tp[last] / seen[last], tp[last] / npos


def recall_at(thr, prec, rec, p):
    ok = prec >= p
    if not ok.any():
        return 0.0, None
    i = np.argmax(np.where(ok, rec, -1))
    return float(rec[i]), float(thr[i])


def evaluate(S, S2, qorig, qtrans, k=20):
    """S: copies x references (originals first); S2: distractors x references."""
    idx = np.argpartition(-S, k, axis=1)[:, :k]
    sc, pos = np.take_along_axis(S, idx, 1), idx == qorig[:, None]
    idx2 = np.argpartition(-S2, k, axis=1)[:, :k]
    sc2 = np.take_along_axis(S2, idx2, 1)
    thr, prec, rec = curve(np.r_[sc.ravel(), sc2.ravel()],
                           np.r_[pos.ravel(), np.zeros(sc2.size, bool)], len(S))
    top1 = S.argmax(1) == qorig
    per = {t: float(top1[np.array([x == t for x in qtrans])].mean()) for t in sorted(set(qtrans))}
    return dict(muap=float(np.sum(np.diff(np.r_[0, rec]) * prec)),
                r90=recall_at(thr, prec, rec, 0.90)[0], r99=recall_at(thr, prec, rec, 0.99)[0],
                r1=float(top1.mean()), blur=per["blur"])


def main():
    stem = lambda l: os.path.splitext(os.path.basename(l.strip()))[0]
    orig = [stem(l) for l in open(os.path.join(DUMPS, "orig.txt"))]
    copies = [stem(l) for l in open(os.path.join(DUMPS, "copies.txt"))]
    qorig = np.array([orig.index(c.split("__")[0]) for c in copies])
    qtrans = [c.split("__")[1] for c in copies]
    n = len(orig)
    scores = {}  # PRE -> list over rotations of (copies x refs, distractors x refs)
    for pre, dim in DIMS.items():
        O, V, C, T = (load(f"{pre}_{x}", dim) for x in ("orig", "val", "copies", "train"))
        R = np.r_[O, V]
        level = lambda X: (X @ T.T).max(1)
        lR = level(R)
        views = [(C, V)]
        if os.path.exists(os.path.join(DUMPS, f"{pre}_rot_copies_90.f32")):
            views += [(load(f"{pre}_rot_copies_{r}", dim), load(f"{pre}_rot_val_{r}", dim))
                      for r in ROTATIONS]
        out = []
        for Cq, Vq in views:
            S = Cq @ R.T - 0.5 * (level(Cq)[:, None] + lR[None, :])
            S2 = Vq @ R.T - 0.5 * (level(Vq)[:, None] + lR[None, :])
            S2[np.arange(len(Vq)), n + np.arange(len(Vq))] = -1e9  # not itself
            out.append((S, S2))
        scores[pre] = out
    rotations = min(len(v) for v in scores.values())
    print(f"{'w (trained)':>11s} {'rotations':>9s}   µAP     R@P90   R@P99   R@1     blur R@1")
    for use in sorted({1, rotations}):
        for w in (1.0, 0.75, 0.5, 0.25, 0.0):
            fused = [tuple(w * a + (1 - w) * b for a, b in zip(scores["d"][v], scores["i"][v]))
                     for v in range(use)]
            S = np.max([f[0] for f in fused], axis=0)
            S2 = np.max([f[1] for f in fused], axis=0)
            r = evaluate(S, S2, qorig, qtrans)
            print(f"{w:11.2f} {use:9d}   {r['muap']:.4f}  {r['r90']:.4f}  {r['r99']:.4f}  "
                  f"{r['r1']:.4f}  {r['blur']:.3f}")


if __name__ == "__main__":
    main()
