"""nnmodel.train and `nnmodel train`: gradients, bit-exact QAT, reproducibility, smoke training, errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnmodel import cli, load, reference, save
from nnmodel.datasets import load_mnist
from nnmodel.errors import NNModelError
from nnmodel.fileformat import to_bytes
from nnmodel.train import AugmentConfig, Network, TrainConfig, augment, int_logits, parse_arch, parse_augment, train
from nnmodel.train.network import distill_xent, softmax_xent

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "mnist"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared MNIST not available")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    if not DATA.is_dir():
        pytest.skip("shared MNIST not available")
    ds = load_mnist(DATA, "train")
    return ds.images[:1200], ds.labels[:1200]


@pytest.fixture(autouse=True)
def only_our_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drive cli.main with just train/eval, independent of the other subcommands' state."""
    monkeypatch.setattr(cli, "COMMANDS", ("train", "eval"))


def random_images(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
    img[rng.random(img.shape) < 0.7] = 0  # mostly background, like digits
    return img


# ------------------------------------------------------------------------------------------- arch
@pytest.mark.parametrize("text, kinds", [
    ("mlp:784-128-10", [("dense", 784, 128, "relu"), ("dense", 128, 10, "none")]),
    ("rnn:28-5-8-10", [("rnn", 28, 5, "hardtanh"), ("rnn", 5, 8, "hardtanh"), ("dense", 8, 10, "none")]),
    ("rnn-tanh:28-5-10", [("rnn", 28, 5, "lut"), ("dense", 5, 10, "none")]),
    ("rnn:28-6/12-10", [("rnn", 28, 6, "hardtanh"), ("dense", 6, 12, "relu"), ("dense", 12, 10, "none")]),
    ("cnn:28x28-c6-p2-c6-p3-10", [("conv2d", 784, 26 * 26 * 6, "relu"), ("maxpool2d", 26 * 26 * 6, 13 * 13 * 6, "none"),
                                  ("conv2d", 13 * 13 * 6, 11 * 11 * 6, "relu"), ("maxpool2d", 11 * 11 * 6, 54, "none"),
                                  ("dense", 54, 10, "none")]),
    ("cnn-hardtanh:16x12-c4k5-p2-20-10", [("conv2d", 192, 12 * 8 * 4, "hardtanh"),
                                          ("maxpool2d", 12 * 8 * 4, 6 * 4 * 4, "none"),
                                          ("dense", 96, 20, "relu"), ("dense", 20, 10, "none")]),
    ("gru:14-6-10", [("gru", 14, 6, "gates"), ("dense", 6, 10, "none")]),
    ("lstm:3-16-8/12-5", [("lstm", 3, 16, "gates"), ("lstm", 16, 8, "gates"), ("dense", 8, 12, "relu"),
                          ("dense", 12, 5, "none")]),
    ("gru:28x28-p2-6-10", [("maxpool2d", 784, 196, "none"), ("gru", 14, 6, "gates"), ("dense", 6, 10, "none")]),
    ("lstm:28x28x2-p2-p3-5-4", [("maxpool2d", 1568, 392, "none"), ("maxpool2d", 392, 32, "none"),
                                ("lstm", 8, 5, "gates"), ("dense", 5, 4, "none")]),
    ("rnn:28x28-p4-7-10", [("maxpool2d", 784, 49, "none"), ("rnn", 7, 7, "hardtanh"), ("dense", 7, 10, "none")]),
])
def test_parse_arch(text: str, kinds: list[tuple]) -> None:
    arch = parse_arch(text)
    assert [(s.kind, s.n_in, s.n_out, s.activation) for s in arch.layers] == kinds


def test_parse_cnn_shapes() -> None:
    conv, pool = parse_arch("cnn:28x28-c6-p2-c6-p3-10").layers[2:4]
    assert (conv.in_shape, conv.size, conv.channels, conv.out_shape) == ((13, 13, 6), 3, 6, (11, 11, 6))
    assert (pool.in_shape, pool.size, pool.out_shape) == ((11, 11, 6), 3, (3, 3, 6))  # floor: 11 -> 3


@pytest.mark.parametrize("text", ["cnn:784-10", "mlp:784", "mlp:784-x-10", "rnn:28-10", "mlp-selu:784-10",
                                  "rnn:28-0-10", "mlp784-10", "cnn:28x28-p2-10", "cnn:28x28-c6", "cnn:28x28-c6-10-p2",
                                  "cnn:28x28-c6-px-10", "cnn:4x4-c6-p3-10", "cnn:28x28-c0-10", "cnn:28x28-c6-p1-10",
                                  "cnn-tanh:28x28-c6-10", "cnn:28x28-10", "cnn:28x28-c6-p2-", "gru-tanh:28-6-10",
                                  "lstm-relu:28-6-10", "gru:28-10", "gru:28x28-6-10", "gru:28x28-p1-6-10",
                                  "gru:28x28-p2-6-p2-10", "gru:4x4-p5-6-10", "lstm:0x28-p2-6-10", "gru:28x28-p2-10",
                                  "gru:28x28-c6-p2-10"])
def test_parse_arch_rejects(text: str) -> None:
    with pytest.raises(NNModelError, match="--arch") as err:
        parse_arch(text)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("text", ["mlp:784-16-10", "mlp-hardtanh:784-12-9-10", "rnn:28-5-8-10",
                                  "rnn-tanh:28-4-6-10", "rnn:28-5/7-10", "cnn:28x28-c3-p3-c4-p2-7-10",
                                  "cnn-hardtanh:28x28-c2k4-p5-10", "gru:28-4-5-10", "lstm:28-3-4-10",
                                  "gru:28x28-p2-4/6-10", "lstm:28x28-p3-5-10"])
def test_gradients_match_finite_differences(text: str) -> None:
    """Float backprop (dense, BPTT through the whole stacked RNN, GRU and LSTM, conv and max pool, the
    ragged edge of a floor pool included) against central differences."""
    net = Network.create(parse_arch(text), np.random.default_rng(1), 0.13, 0.31)
    for p in net.params:  # non-zero biases so every path is exercised (pools have no parameters)
        if "b" in p:
            p["b"] += np.random.default_rng(2).normal(0, 0.1, p["b"].shape)
    x = random_images(6)
    y = np.arange(6) % 10

    def loss() -> float:
        return softmax_xent(net.forward(x)[0], y)[0]

    logits, cache = net.forward(x)
    grads = net.backward(softmax_xent(logits, y)[1], cache)
    rng = np.random.default_rng(3)
    for i, p in enumerate(net.params):
        for name, value in p.items():
            for _ in range(6):
                idx = tuple(int(rng.integers(0, s)) for s in value.shape)
                old = value[idx]
                value[idx] = old + 1e-6
                up = loss()
                value[idx] = old - 1e-6
                down = loss()
                value[idx] = old
                numeric, analytic = (up - down) / 2e-6, grads[i][name][idx]
                assert abs(numeric - analytic) <= 1e-6 + 1e-4 * abs(numeric), (i, name, idx, numeric, analytic)


def test_distillation_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(4)
    logits, teacher = rng.normal(0, 3, (5, 10)), rng.normal(0, 5, (5, 10))
    y = np.arange(5)
    _loss, grad = distill_xent(logits, y, teacher, 0.7, 3.0)
    for idx in [(0, 0), (1, 4), (4, 9), (2, 2)]:
        up, down = logits.copy(), logits.copy()
        up[idx] += 1e-6
        down[idx] -= 1e-6
        numeric = (distill_xent(up, y, teacher, 0.7, 3.0)[0] - distill_xent(down, y, teacher, 0.7, 3.0)[0]) / 2e-6
        assert abs(numeric - grad[idx]) <= 1e-7 + 1e-5 * abs(numeric)
    plain = softmax_xent(logits, y)
    assert distill_xent(logits, y, None, 0.0, 3.0)[0] == plain[0]


def test_leak_changes_only_the_backward_of_saturated_hardtanh_units() -> None:
    arch = parse_arch("rnn:28-5-8-10")
    x, y = random_images(8), np.arange(8) % 10
    nets = [Network.create(arch, np.random.default_rng(1), init_ih=3.0) for _ in range(2)]  # big: saturates
    nets[1].leak = 0.1
    out = [net.forward(x) for net in nets]
    np.testing.assert_array_equal(out[0][0], out[1][0])
    grads = [net.backward(softmax_xent(o[0], y)[1], o[1]) for net, o in zip(nets, out)]
    assert not np.allclose(grads[0][0]["w_ih"], grads[1][0]["w_ih"])


def test_folded_standardization_of_a_conv_layer_gives_the_same_float_network() -> None:
    """Training on (x - mean)/std is exported as weights for raw pixels: same float logits."""
    arch = parse_arch("cnn:28x28-c3-p2-10")
    net = Network.create(arch, np.random.default_rng(1), 0.13, 0.31)
    raw = Network.create(arch, np.random.default_rng(1))
    raw.params = [{k: np.asarray(v, np.float64) for k, v in fl.weights.items()} for fl in net.float_layers()]
    x = random_images(4)
    np.testing.assert_allclose(raw.forward(x)[0], net.forward(x)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("text", ["gru:28x28-p2-4-10", "lstm:28-3-10"])
def test_folded_standardization_of_a_gated_layer_gives_the_same_float_network(text: str) -> None:
    """Per-element standardization folds into w_x and b_x (gru) or b (lstm), also behind a pool front
    (max pooling commutes with (x - mean) / std for std > 0): the exported layers eat raw pixels."""
    arch = parse_arch(text)
    width = next(spec for spec in arch.layers if spec.kind in ("gru", "lstm")).n_in
    rng = np.random.default_rng(5)
    net = Network.create(arch, np.random.default_rng(1), rng.uniform(0.1, 0.3, width), rng.uniform(0.2, 0.5, width))
    for p in net.params:
        for k in ("b_x", "b_h", "b"):
            if k in p:
                p[k] += rng.normal(0, 0.3, p[k].shape)
    raw = Network.create(arch, np.random.default_rng(1))
    raw.params = [{k: np.asarray(v, np.float64) for k, v in fl.weights.items()} for fl in net.float_layers()]
    x = random_images(4)
    np.testing.assert_allclose(raw.forward(x)[0], net.forward(x)[0], rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------ QAT
@pytest.mark.parametrize("text", ["mlp:784-32-10", "rnn:28-5-8-10", "rnn-tanh:28-5-8-10", "rnn:28-6/12-10",
                                  "gru:28x28-p2-6-10", "gru:28-5-6-10", "lstm:28-4-10", "lstm:28x28-p2-3-4/8-10",
                                  "rnn:28x28-p2-6-10"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_qat_forward_is_bit_exact_with_the_exported_model(digits, text: str, per_channel: bool) -> None:
    images, labels = digits
    cfg = TrainConfig(epochs=2, batch=64, lr=3e-3, per_channel=per_channel, float_epochs=1, seed=5)
    result = train(parse_arch(text), images[:600], labels[:600], cfg)
    model = result.network.quantize("t", per_channel=per_channel)
    ours = int_logits(result.network, model, images[600:900])
    assert ours.dtype == np.int64
    np.testing.assert_array_equal(ours, reference.run(model, images[600:900]))
    first = next(layer for layer in model.layers if hasattr(layer, "acc_scale"))  # after any pool
    rows = len(next(getattr(first, k) for k in ("w_q", "w_ih_q", "w_x_q") if hasattr(first, k)))
    assert (first.acc_scale.size == rows) == per_channel  # per gate (or tensor) otherwise


@pytest.mark.parametrize("text", ["gru:28-6-10", "lstm:28x28-p2-5-4-10"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_gated_qat_forward_is_bit_exact_where_gates_and_cell_saturate(text: str, per_channel: bool) -> None:
    """Large weights and biases drive pre-activations past the ±127 clamp (and the LSTM cell past
    ±32767): the QAT forward still equals the reference, and the straight-through derivative is 0
    exactly where a clamp cut (σ' and tanh' are positive everywhere else)."""
    net = Network.create(parse_arch(text), np.random.default_rng(7), init_ih=6.0)
    rng = np.random.default_rng(8)
    for spec, p in zip(net.arch.layers, net.params):
        if spec.kind in ("gru", "lstm"):
            u = spec.n_out
            p["w_h"] *= 3.0
            bias = "b_x" if "b_x" in p else "b"
            p[bias] += rng.choice([-12.0, 0.0, 12.0], p[bias].shape)
            if spec.kind == "lstm":
                p["b"][:3 * u] = 12.0  # i = f = 1, g = 1: the cell grows by ~1.0 a step until it clamps at 8.0
    x = random_images(40, seed=3)
    model = net.quantize("t", per_channel=per_channel)
    _, cache = net.forward(x, model)
    np.testing.assert_array_equal(cache.per_layer[-1]["acc"], reference.run(model, x))
    gated = next(i for i, spec in enumerate(net.arch.layers) if spec.kind in ("gru", "lstm"))
    entry = cache.per_layer[gated]
    derivs = np.stack(entry["dr" if "dr" in entry else "di"])
    assert (derivs == 0).any() and (derivs > 0).any()
    if "keep" in entry:
        keep = np.stack(entry["keep"])
        assert not keep.all() and keep.any()  # the cell clamp cut some sums, not all
        assert (np.stack(entry["dtc"]) == 0).any()  # tanh(c') read a clamped table index


@pytest.mark.parametrize("bits, per_channel", [(4, False), (8, False), (4, True)])
def test_cnn_qat_forward_is_bit_exact_with_the_exported_model(digits, bits: int, per_channel: bool) -> None:
    images, labels = digits
    cfg = TrainConfig(epochs=2, lr=3e-3, float_epochs=1, seed=5, weight_bits=bits, per_channel=per_channel)
    result = train(parse_arch("cnn:28x28-c4-p2-c5-p3-12-10"), images[:400], labels[:400], cfg)
    model = result.network.quantize("t", per_channel=per_channel)
    conv, pool = model.layers[:2]
    assert ((conv.kind, pool.kind, model.layers[2].kind, model.layers[-1].kind)
            == ("conv2d", "maxpool2d", "conv2d", "dense"))
    for layer in model.layers:
        if layer.kind != "maxpool2d":
            assert layer.weight_bits == bits
            assert layer.w_q.min() >= -(1 << (bits - 1)) and layer.w_q.max() < (1 << (bits - 1))
    if bits == 4:
        assert np.abs(conv.w_q).max() == 7  # per-tensor max|W| -> 7
    ours = int_logits(result.network, model, images[600:900])
    np.testing.assert_array_equal(ours, reference.run(model, images[600:900]))
    # ...and the QAT forward of a training batch runs the same integers (the pool path included).
    _, cache = result.network.forward(images[:50], model)
    np.testing.assert_array_equal(cache.per_layer[-1]["acc"], reference.run(model, images[:50]))


def test_learned_clip_sets_the_export_scale_and_stays_bit_exact(digits) -> None:
    images, labels = digits
    cfg = TrainConfig(epochs=3, lr=1e-2, float_epochs=1, seed=2, weight_bits=4, learn_clip=True)
    result = train(parse_arch("cnn:28x28-c4-p2-c5-p3-10"), images[:400], labels[:400], cfg)
    net = result.network
    model = net.quantize("t")
    clips = [p["clip"][0] for p in net.params if "clip" in p]
    weights = [layer for layer in model.layers if layer.kind != "maxpool2d"]
    assert len(clips) == len(weights) == 3
    for c, p, layer in zip(clips, [p for p in net.params if "clip" in p], weights):
        assert c <= np.abs(p["w"]).max() and np.abs(layer.w).max() == np.float32(c)  # export scale = clip / 7
    np.testing.assert_array_equal(int_logits(net, model, images[600:800]), reference.run(model, images[600:800]))
    with pytest.raises(ValueError, match="per_channel"):
        train(parse_arch("mlp:784-8-10"), images[:100], labels[:100], TrainConfig(epochs=1, learn_clip=True,
                                                                                 per_channel=True))


def test_dampening_pulls_each_weight_towards_its_grid_point() -> None:
    net = Network.create(parse_arch("cnn:28x28-c3-p2-10"), np.random.default_rng(0), weight_bits=4)
    net.add_clips()
    net.start_clips()  # clip = max|W|: the export's own step
    net.params[0]["clip"] *= 0.8  # the conv's largest weights now lie beyond its clip
    grads = [{k: np.zeros_like(v) for k, v in p.items() if k != "clip"} for p in net.params]
    net.dampen(grads, 0.5)
    for i in (0, 2):
        w, c = net.params[i]["w"], net.params[i]["clip"][0]
        step = c / 7
        r = w / step
        inside = np.abs(w) < c
        np.testing.assert_allclose(grads[i]["w"][inside], 0.5 * (r - np.round(r))[inside] / step)
        assert not grads[i]["w"][~inside].any() and (~inside).any()
        # A small descent step moves every weight inside the clip closer to its integer.
        moved = (w - 0.1 * step * step * grads[i]["w"]) / step
        assert (np.abs(moved - np.round(r)) <= np.abs(r - np.round(r)) + 1e-12).all()
    # Per-channel scales (no learned clip): each output row has its own step max|W_row| / 7.
    mlp = Network.create(parse_arch("mlp:784-8-10"), np.random.default_rng(0), weight_bits=4)
    g = [{k: np.zeros_like(v) for k, v in p.items()} for p in mlp.params]
    mlp.dampen(g, 1.0, per_channel=True)
    w = mlp.params[0]["w"]
    row_max = np.abs(w).max(axis=1, keepdims=True)
    r = w / (row_max / 7)
    inside = np.abs(w) < row_max
    np.testing.assert_allclose(g[0]["w"][inside], ((r - np.round(r)) / (row_max / 7))[inside])


# ------------------------------------------------------------------------------------ augmentation
def test_augment_is_seeded_uint8_and_moves_pixels() -> None:
    x = random_images(50)
    cfg = parse_augment("rotate=10,shift=2,scale=0.1,shear=0.1")
    a = augment(x, cfg, np.random.default_rng(7))
    b = augment(x, cfg, np.random.default_rng(7))
    assert a.dtype == np.uint8 and a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, x)
    tiny = AugmentConfig(shift=1e-9)  # active but the identity up to rounding
    np.testing.assert_array_equal(augment(x, tiny, np.random.default_rng(0)), x)
    assert augment(x, parse_augment("none"), np.random.default_rng(0)) is x
    with pytest.raises(NNModelError, match="--augment"):
        parse_augment("spin=3")
    elastic = parse_augment("rotate=10,elastic=34,sigma=4")
    e1, e2 = augment(x, elastic, np.random.default_rng(7)), augment(x, elastic, np.random.default_rng(7))
    np.testing.assert_array_equal(e1, e2)
    assert e1.dtype == np.uint8 and not np.array_equal(e1, augment(x, parse_augment("rotate=10"),
                                                                   np.random.default_rng(7)))
    assert "elastic=34" in elastic.describe()


@needs_data
def test_restarts_and_distillation_are_deterministic(digits, tmp_path: Path) -> None:
    images, labels = digits
    teacher = train(parse_arch("mlp:784-16-10"), images, labels, TrainConfig(epochs=2, lr=3e-3, seed=1))
    tpath = tmp_path / "teacher.nnm"
    save(teacher.network.quantize("teacher"), tpath)
    t_model = load(tpath)
    def soft(batch: np.ndarray) -> np.ndarray:
        return reference.run(t_model, batch) * t_model.layers[-1].acc_scale
    cfg = TrainConfig(epochs=2, lr=1e-2, float_epochs=1, seed=2, restarts=3, screen_epochs=1, init_ih=0.25, leak=0.05,
                      distill=0.5, temperature=3.0, augment=parse_augment("rotate=5"))
    runs = [train(parse_arch("rnn:28-4-6-10"), images[:500], labels[:500], cfg, teacher=soft) for _ in range(2)]
    for a, b in zip(runs[0].network.params, runs[1].network.params):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    assert runs[0].val_int == runs[1].val_int
    with pytest.raises(ValueError, match="teacher"):
        train(parse_arch("rnn:28-4-6-10"), images[:300], labels[:300], cfg)


def test_split_seed_fixes_the_validation_digits_whatever_the_seed(digits) -> None:
    images, labels = digits
    images, labels = images[:400], labels[:400]
    arch = parse_arch("mlp:784-8-10")
    base = TrainConfig(epochs=1, lr=3e-3, float_epochs=0)
    # Labels are the only per-digit signal the result keeps: relabel the validation digits of seed 4's
    # split and see which runs notice (their val accuracy changes).
    from nnmodel.train.trainer import validation_split
    _, va4 = validation_split(len(labels), 0.1, 4)
    wrong = labels.copy()
    wrong[va4] = (wrong[va4] + 1) % 10
    def val(cfg: TrainConfig, lab: np.ndarray) -> float:
        return train(arch, images, lab, cfg).val_int
    same = TrainConfig(**{**base.__dict__, "seed": 9, "split_seed": 4})
    default = TrainConfig(**{**base.__dict__, "seed": 4})
    # With split_seed=4 the held-out digits are seed 4's, so relabelling them changes only validation...
    r1 = train(arch, images, labels, same)
    r2 = train(arch, images, wrong, same)
    for a, b in zip(r1.network.params, r2.network.params):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])  # ...and never the training
    assert r1.n_val == r2.n_val == 40
    assert val(default, labels) != val(default, wrong)


def test_ema_keeps_an_average_that_differs_from_the_raw_weights(digits) -> None:
    images, labels = digits
    arch = parse_arch("mlp:784-16-10")
    cfg = TrainConfig(epochs=3, lr=3e-3, float_epochs=1, seed=1)
    raw = train(arch, images[:600], labels[:600], cfg)
    avg = train(arch, images[:600], labels[:600], TrainConfig(**{**cfg.__dict__, "ema": 0.9}))
    again = train(arch, images[:600], labels[:600], TrainConfig(**{**cfg.__dict__, "ema": 0.9}))
    w_raw, w_avg = raw.network.params[0]["w"], avg.network.params[0]["w"]
    assert not np.array_equal(w_raw, w_avg)
    np.testing.assert_array_equal(w_avg, again.network.params[0]["w"])  # still deterministic
    # The kept weights are the ones judged: re-measuring them gives the reported val accuracy.
    model = avg.network.quantize("t")
    from nnmodel.train.trainer import validation_split
    _, va = validation_split(600, 0.1, 1)
    acc = float(np.mean(np.argmax(reference.run(model, images[:600][va]), axis=1) == labels[:600][va]))
    assert acc == pytest.approx(avg.val_int)


@needs_data
def test_cli_distills_from_an_ensemble_that_held_out_the_same_digits(tmp_path: Path, capsys) -> None:
    teachers = []
    for seed in (1, 2):
        teachers.append(tmp_path / f"t{seed}.nnm")
        assert cli.main(train_cmd(teachers[-1], "--seed", str(seed), "--split-seed", "7")) == 0
    ensemble = ",".join(map(str, teachers))
    student = tmp_path / "s.nnm"
    argv = train_cmd(student, "--split-seed", "7", "--teacher", ensemble, "--distill", "0.5", "--augment", "shift=1")
    assert cli.main(argv) == 0
    assert load(student).provenance["holdout"] == {"split_seed": 7, "val_split": 0.1, "digits": 1000}
    capsys.readouterr()
    # A teacher that trained on this run's validation digits is refused, in one line.
    assert cli.main(train_cmd(tmp_path / "leak.nnm", "--teacher", ensemble, "--distill", "0.5")) == 2
    err = capsys.readouterr().err
    assert "--split-seed" in err and str(teachers[0]) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "leak.nnm").exists()


@needs_data
def test_val_split_zero_is_a_final_fit_on_every_digit_keeping_the_last_epoch(tmp_path: Path, capsys) -> None:
    out = tmp_path / "full.nnm"
    assert cli.main(train_cmd(out, "--val-split", "0")) == 0
    prov = load(out).provenance
    assert prov["train_digits"] == 1000 and prov["val_digits"] == 0 and prov["best_epoch"] == 4
    assert prov["accuracy"]["val_int"] is None and prov["accuracy"]["test_int"] > 0.6
    assert "no validation split (final fit" in capsys.readouterr().out
    assert cli.main(train_cmd(tmp_path / "x.nnm", "--val-split", "0", "--restarts", "2")) == 2
    err = capsys.readouterr().err
    assert "--val-split 0" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------- CLI
def train_cmd(out: Path, *extra: str) -> list[str]:
    return ["train", "--arch", "mlp:784-32-10", "--data", str(DATA), "--out", str(out), "--limit", "1000",
            "--epochs", "4", "--lr", "3e-3", "--seed", "3", "--quiet", *extra]


@needs_data
def test_cli_smoke_training_saves_a_loadable_model_with_provenance(tmp_path: Path, capsys) -> None:
    out = tmp_path / "smoke.nnm"
    assert cli.main(train_cmd(out, "--augment", "rotate=8,shift=1")) == 0
    model = load(out)
    prov = model.provenance
    assert prov["command"].startswith("nnmodel train --arch mlp:784-32-10 --data ")
    assert "--augment rotate=8,shift=1" in prov["command"] and "--limit 1000" in prov["command"]
    assert len(prov["data_sha256"]) == 64 and prov["seed"] == 3 and prov["epochs"] == 4
    assert set(prov["accuracy"]) == {"val_float", "val_int", "test_int"}
    assert prov["accuracy"]["val_int"] > 0.6 and prov["accuracy"]["test_int"] > 0.6
    assert prov["train_seconds"] >= 0 and prov["nnmodel_version"]
    assert "saved" in capsys.readouterr().out


def _fileformat_takes_conv() -> bool:
    net = Network.create(parse_arch("cnn:28x28-c2-p2-10"), np.random.default_rng(0), weight_bits=4)
    try:
        to_bytes(net.quantize("probe"))
    except Exception:
        return False
    return True


@needs_data
def test_cli_trains_an_int4_cnn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "cnn.nnm"
    argv = ["train", "--arch", "cnn:28x28-c4-p2-c4-p3-10", "--data", str(DATA), "--out", str(out), "--limit", "1000",
            "--epochs", "3", "--lr", "1e-2", "--batch", "32", "--weight-bits", "4", "--learn-clip", "--damp", "1e-3",
            "--quiet"]
    saved: list = []
    can_save = _fileformat_takes_conv()
    if not can_save:  # until the file format holds conv layers: check the model the command would save
        import nnmodel.commands.train as train_command
        monkeypatch.setattr(train_command, "save", lambda model, path, overwrite=False: saved.append(model))
    assert cli.main(argv) == 0
    model = load(out) if can_save else saved[0]
    assert "--weight-bits 4 --damp 0.001" in model.provenance["command"]
    assert model.provenance["command"].endswith("--learn-clip")
    assert [layer.kind for layer in model.layers] == ["conv2d", "maxpool2d", "conv2d", "maxpool2d", "dense"]
    assert all(layer.weight_bits == 4 for layer in model.layers if layer.kind != "maxpool2d")
    assert model.provenance["accuracy"]["val_int"] > 0.5
    images = load_mnist(DATA, "train").images[:100]
    assert reference.run(model, images).shape == (100, 10)
    if not can_save:
        pytest.skip("trained, but nnmodel.fileformat cannot save conv layers yet")


@needs_data
def test_same_seed_gives_identical_model_bytes(tmp_path: Path) -> None:
    """Everything but the measured train_seconds is byte-identical; another seed differs."""
    def build(name: str, seed: str) -> bytes:
        out = tmp_path / f"{name}.nnm"
        args = train_cmd(out, "--augment", "rotate=5", "--dropout", "0.1", "--name", "same")
        args[args.index("--seed") + 1] = seed
        assert cli.main(args) == 0
        model = load(out)
        model.provenance["train_seconds"] = 0.0
        model.provenance["command"] = model.provenance["command"].replace(str(out), "OUT")
        return to_bytes(model)

    first = build("a", "3")
    assert build("b", "3") == first
    assert build("c", "4") != first


@needs_data
def test_refuses_to_overwrite_without_force(tmp_path: Path, capsys) -> None:
    out = tmp_path / "exists.nnm"
    out.write_bytes(b"keep me")
    assert cli.main(train_cmd(out)) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and str(out) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("args, message", [
    (["--arch", "mlp:784-x-10"], "--arch"),
    (["--arch", "mlp:100-16-10"], "takes 100 inputs"),
    (["--arch", "mlp:784-16-5"], "5 classes"),
    (["--augment", "tilt=5"], "--augment"),
    (["--val-split", "1.5"], "--val-split"),
    (["--out", "model.bin"], ".nnm"),
    (["--distill", "0.5"], "--teacher and --distill"),
    (["--restarts", "0"], "--restarts"),
    (["--ema", "1.0"], "--ema"),
    (["--split-seed", "-2"], "--split-seed"),
    (["--weight-bits", "5"], "--weight-bits"),
    (["--weight-bits", "4", "--arch", "rnn:28-5-10"], "--weight-bits 4"),
    (["--arch", "cnn:20x20-c6-p2-10"], "takes 20x20 images"),
    (["--learn-clip", "--per-channel"], "--learn-clip"),
    (["--damp", "-1"], "--damp"),
    (["--name", "nnrt"], "--name: 'nnrt' clashes with the runtime's nnrt.h"),
    (["--out", "OUT/nnmodel.nnm"], "--name: 'nnmodel' clashes with the generated nnmodel.h"),
])
@needs_data
def test_bad_arguments_are_one_line_errors(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    base = {"--arch": "mlp:784-16-10", "--out": str(tmp_path / "m.nnm")}
    base.update({k: v.replace("OUT", str(tmp_path)) for k, v in zip(args[::2], args[1::2])})
    argv = ["train", "--data", str(DATA), "--epochs", "1", "--limit", "300", "--quiet"]
    for k, v in base.items():
        argv += [k, v]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
