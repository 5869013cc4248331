"""nnmodel.reference against a slow literal transcription of the spec."""
from __future__ import annotations

import numpy as np
import pytest
from literal_reference import run_one
from randmodels import random_conv_model, random_images, random_model, small_cnn

from nnmodel import reference
from nnmodel.ops import MAP
from nnmodel.quant import choose_multiplier, requantize


@pytest.mark.parametrize("seed", range(40))
def test_reference_equals_literal(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    model = random_model(rng)
    images = random_images(rng, model, 5)
    expected = np.array([run_one(model, im) for im in images])
    np.testing.assert_array_equal(reference.run(model, images), expected)


@pytest.mark.parametrize("seed", range(40))
def test_reference_equals_literal_conv(seed: int) -> None:
    """Conv/pool models (and int4 dense models) against the plain-Python transcription."""
    rng = np.random.default_rng(3000 + seed)
    model = random_conv_model(rng, max_side=10) if seed % 4 else random_model(rng, int4=True)
    images = random_images(rng, model, 5)
    expected = np.array([run_one(model, im) for im in images])
    np.testing.assert_array_equal(reference.run(model, images), expected)


@pytest.mark.parametrize("make", [small_cnn, lambda: random_conv_model(np.random.default_rng(1), target=True)])
def test_reference_equals_literal_target_cnn(make) -> None:
    model = make()
    images = random_images(np.random.default_rng(2), model, 3)
    np.testing.assert_array_equal(reference.run(model, images), np.array([run_one(model, im) for im in images]))


def test_random_conv_models_vary_without_saturating() -> None:
    """Conv and pool outputs take interior values, so the equivalence tests see real arithmetic."""
    rng = np.random.default_rng(8)
    seen, interior, total = set(), 0, 0
    for _ in range(40):
        model = random_conv_model(rng)
        trace: list = []
        reference.run(model, random_images(rng, model, 8), trace=trace)
        front = model.leading(MAP)
        seen |= {layer.activation.kind for layer in front if hasattr(layer, "activation")}
        for values in trace[:len(front)]:
            interior += int(np.sum((values > -127) & (values < 127) & (values != 0)))
            total += values.size
    assert seen == {"relu", "hardtanh", "linear"}
    assert 0.2 < interior / total < 0.95, interior / total


def test_random_models_exercise_every_activation_without_saturating() -> None:
    """The equivalence tests mean something only if hidden values vary and hit both clamps."""
    rng = np.random.default_rng(7)
    seen, interior, total = set(), 0, 0
    for _ in range(30):
        model = random_model(rng)
        trace: list = []
        reference.run(model, random_images(rng, model, 8), trace=trace)
        hidden = [layer for layer in model.layers if layer.activation.kind != "none"]
        seen |= {layer.activation.kind for layer in hidden}
        for values in trace[:-1]:
            interior += int(np.sum((values > -127) & (values < 127) & (values != 0)))
            total += values.size
    assert seen == {"relu", "hardtanh", "linear", "lut"}
    assert 0.2 < interior / total < 0.95


def test_requantize_rounds_half_up_with_floor_shift() -> None:
    acc = np.array([5, -5, 6, -6, 7, -7, 0])
    np.testing.assert_array_equal(requantize(acc, np.array([1]), np.array([1])), [3, -2, 3, -3, 4, -3, 0])
    np.testing.assert_array_equal(requantize(acc, np.array([3]), np.array([0])), acc * 3)


def test_choose_multiplier_respects_the_overflow_bound() -> None:
    m, s = choose_multiplier(0.0123, 1000)
    assert abs(m / 2**s - 0.0123) / 0.0123 < 1e-4 and 1000 * m + 2 ** (s - 1) < 2**31
    m, s = choose_multiplier(0.0123, 2**30)  # huge accumulators force a coarse multiplier
    assert 2**30 * m + (2 ** (s - 1) if s else 0) < 2**31
    with pytest.raises(ValueError):
        choose_multiplier(0.5, 2**31)


def test_ties_go_to_the_lowest_class_in_reference_and_c(tmp_path) -> None:
    """Zero weights and biases [5, 9, 9, 1, 9]: every image ties classes 1, 2 and 4; both pick 1."""
    from nnmodel import hostc
    from nnmodel.model import Activation, Dense, InputSpec, Model

    w = np.zeros((5, 4), np.int8)
    layer = Dense(4, 5, Activation("none"), w.astype(np.float32), np.zeros(5, np.float32), w,
                  np.array([5, 9, 9, 1, 9], np.int32), 1 / 255, np.ones(1), 0.0, np.zeros(0, np.int32),
                  np.zeros(0, np.int32))
    model = Model("ties", InputSpec(2, 2), [layer], list("abcde"))
    images = np.random.default_rng(0).integers(0, 256, (6, 2, 2)).astype(np.uint8)
    _, ref_classes = reference.predict(model, images)
    _, c_classes = hostc.build(model, tmp_path).classify(images)
    assert ref_classes.tolist() == c_classes.tolist() == [1] * 6


def test_full_test_set_runs_vectorised(mnist_dir, mlp_model) -> None:
    from nnmodel.datasets import load_mnist

    data = load_mnist(mnist_dir, "test")
    logits, classes = reference.predict(mlp_model, data.images)
    assert logits.shape == (10000, 10) and classes.shape == (10000,)
