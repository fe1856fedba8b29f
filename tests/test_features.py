"""Feature distillation through the Distiller: one pass, adapters outside the student, errors."""

import keras
import numpy as np
import pytest

import keras_distill
from keras_distill.features import FeaturePair
from tests.testing import assert_weights_close

SPARSE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


class CountingIdentity(keras.layers.Layer):
    """Counts how often it runs (Python side: every eager call)."""

    calls = 0

    def call(self, x):
        CountingIdentity.calls += 1
        return x


def conv_model(width, name, embedding=16, counting=False):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name="c1")(inputs)
    if counting:
        x = CountingIdentity(name="count")(x)
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(embedding, activation="relu", name="emb")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x), name=name)


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 1)).astype("float32"), rng.integers(0, 10, n)


def compiled(distiller, **kwargs):
    distiller.compile(optimizer="adam", student_loss_fn=SPARSE, alpha=0.5, temperature=2.0, **kwargs)
    return distiller


def test_student_runs_once_per_step_with_features():
    teacher, student = conv_model(8, "t"), conv_model(4, "s", counting=True)
    distiller = compiled(
        keras_distill.Distiller(
            teacher, student, features=[FeaturePair("c2", "c2"), FeaturePair("emb", "emb", "rkd")]
        ),
        run_eagerly=True,
    )
    x, y = data()
    CountingIdentity.calls = 0
    distiller.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert CountingIdentity.calls == 4  # 4 steps, one student pass each


def test_identical_student_has_zero_feature_loss_and_adapters_are_created_only_when_needed():
    teacher = conv_model(4, "t")
    student = keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    distiller = compiled(
        keras_distill.Distiller(
            teacher, student,
            features=[FeaturePair("c2", "c2"), FeaturePair("pool", "pool", "sp"),
                      FeaturePair(None, None, "mse")],
        )
    )
    assert distiller.feature_adapters == []
    x, y = data()
    distiller.optimizer.learning_rate.assign(0.0)
    history = distiller.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert history.history["feature_loss"][0] < 1e-6


def test_adapters_train_with_the_student_and_stay_out_of_it():
    teacher, student = conv_model(8, "t", embedding=24), conv_model(4, "s")
    params = student.count_params()
    distiller = compiled(
        keras_distill.Distiller(
            teacher, student, features=[FeaturePair("c2", "c2"), FeaturePair("emb", "emb")]
        )
    )
    conv_adapter, dense_adapter = distiller.feature_adapters
    assert isinstance(conv_adapter, keras.layers.Conv2D) and conv_adapter.filters == 8
    assert isinstance(dense_adapter, keras.layers.Dense) and dense_adapter.units == 24
    adapter_ids = {id(v) for a in distiller.feature_adapters for v in a.weights}
    assert adapter_ids <= {id(v) for v in distiller.trainable_variables}
    assert not adapter_ids & {id(v) for v in student.weights}
    before = [np.array(v) for a in distiller.feature_adapters for v in a.weights]
    x, y = data()
    history = distiller.fit(x, y, batch_size=8, epochs=2, verbose=0)
    after = [np.array(v) for a in distiller.feature_adapters for v in a.weights]
    assert any(np.abs(a - b).max() > 0 for a, b in zip(before, after))
    assert np.isfinite(history.history["feature_loss"]).all()
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert student.count_params() == params
    assert "feature_loss" not in distiller.evaluate(x, y, verbose=0, return_dict=True)


def test_feature_loss_is_in_the_total_loss():
    teacher, student = conv_model(8, "t"), conv_model(4, "s")
    x, y = data()
    plain = compiled(keras_distill.Distiller(teacher, student))
    with_features = compiled(
        keras_distill.Distiller(teacher, student, features=[FeaturePair("c2", "c2", weight=2.0)])
    )
    for distiller in (plain, with_features):
        distiller.optimizer.learning_rate.assign(0.0)
    a = plain.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False).history
    b = with_features.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False).history
    assert b["feature_loss"][0] > 0
    np.testing.assert_allclose(b["loss"][0], a["loss"][0] + b["feature_loss"][0], rtol=1e-5)


def test_layers_inside_nested_models_by_name_path_and_object():
    inner = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, padding="same", name="c1"),
         keras.layers.Flatten()],
        name="backbone",
    )
    inputs = keras.Input((8, 8, 1))
    student = keras.Model(inputs, keras.layers.Dense(10, name="head")(inner(inputs)), name="s")
    teacher = conv_model(8, "t")
    for reference in ("c1", "backbone/c1", inner.get_layer("c1")):
        distiller = compiled(
            keras_distill.Distiller(teacher, student, features=[FeaturePair("c1", reference)])
        )
        assert distiller.features[0].student_layer == "backbone/c1"
        x, y = data()
        history = distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)
        assert history.history["feature_loss"][0] > 0


def test_subclassed_students_get_a_clear_error_and_the_wrapper_works():
    class Net(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = keras.layers.Conv2D(4, 3, padding="same", name="conv")
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.out = keras.layers.Dense(10)

        def call(self, x):
            return self.out(self.pool(self.conv(x)))

    net = Net()
    net(np.zeros((1, 8, 8, 1), "float32"))
    teacher = conv_model(8, "t")
    with pytest.raises(ValueError, match=r"subclassed model.*keras.Sequential\(\[keras.Input"):
        keras_distill.Distiller(teacher, net, features=[FeaturePair("c1", "conv")])
    wrapped = keras.Sequential([keras.Input((8, 8, 1)), net])
    distiller = compiled(
        keras_distill.Distiller(teacher, wrapped, features=[FeaturePair("c1", "conv")])
    )
    x, y = data()
    assert distiller.fit(x, y, batch_size=16, verbose=0).history["feature_loss"][0] > 0


def test_bad_feature_arguments_are_named():
    teacher, student = conv_model(8, "t"), conv_model(4, "s")
    with pytest.raises(ValueError, match=r"features\[0\].student_layer.*no layer 'nope'.*'c1'"):
        keras_distill.Distiller(teacher, student, features=[FeaturePair("c1", "nope")])
    with pytest.raises(ValueError, match="is not a layer of the student"):
        keras_distill.Distiller(teacher, student, features=[FeaturePair("c1", teacher.layers[1])])
    with pytest.raises(ValueError, match="only the last .channel. axis may differ"):
        keras_distill.Distiller(teacher, student, features=[FeaturePair("c2", "emb")])
    with pytest.raises(ValueError, match="adapter=None"):
        keras_distill.Distiller(teacher, student, features=[FeaturePair("c2", "c2", adapter=None)])
    with pytest.raises(ValueError, match="`weight` must be a number >= 0"):
        FeaturePair("c1", "c1", weight=-1)
    with pytest.raises(TypeError, match="`features` must be a list"):
        keras_distill.Distiller(teacher, student, features="c1")
    with pytest.raises(ValueError, match="`adapter` must be 'auto', None or a Keras layer"):
        FeaturePair("c1", "c1", adapter="dense")


def test_custom_adapter_is_used_and_checked():
    teacher, student = conv_model(8, "t"), conv_model(4, "s")
    adapter = keras.layers.Conv2D(8, 3, padding="same", name="my_adapter")
    distiller = keras_distill.Distiller(
        teacher, student, features=[FeaturePair("c2", "c2", adapter=adapter)]
    )
    assert distiller.feature_adapters == [adapter]
    with pytest.raises(ValueError, match=r"adapter` maps the student's"):
        keras_distill.Distiller(
            teacher, student,
            features=[FeaturePair("c2", "c2", adapter=keras.layers.Conv2D(3, 1))],
        )


def test_keras_feature_distillation_is_accepted_as_it_is():
    teacher, student = conv_model(8, "t"), conv_model(4, "s", embedding=16)
    builtin = keras.distillation.FeatureDistillation(
        loss="mse", teacher_layer_name="emb", student_layer_name="emb"
    )
    distiller = compiled(keras_distill.Distiller(teacher, student, features=[builtin]))
    pair = distiller.features[0]
    assert (pair.teacher_layer, pair.student_layer, pair.weight) == ("emb", "emb", 1.0)
    x, y = data()
    assert distiller.fit(x, y, batch_size=16, verbose=0).history["feature_loss"][0] > 0
    with pytest.raises(ValueError, match=r"features=\[\.\.\.\]"):
        keras_distill.Distiller(teacher, student).compile(
            student_loss_fn=SPARSE, distillation_loss_fn=builtin
        )


def test_features_need_the_online_teacher():
    teacher, student = conv_model(8, "t"), conv_model(4, "s")
    x, y = data()
    cache = keras_distill.TeacherCache.compute(teacher, x)
    distiller = compiled(
        keras_distill.Distiller(teacher, student, features=[FeaturePair("c2", "c2")])
    )
    with pytest.raises(ValueError, match="TeacherCache does not hold"):
        distiller.fit(cache.inputs(x), y, batch_size=16, verbose=0)


def test_saved_distiller_keeps_features_and_adapter_weights(tmp_path):
    teacher, student = conv_model(8, "t", embedding=24), conv_model(4, "s")
    distiller = compiled(
        keras_distill.Distiller(
            teacher, student,
            features=[FeaturePair("c2", "c2", weight=0.5), FeaturePair("emb", "emb", "rkd")],
        )
    )
    x, y = data()
    distiller.fit(x, y, batch_size=16, verbose=0)
    path = tmp_path / "d.keras"
    distiller.save(path)
    restored = keras.models.load_model(path)
    assert [repr(p) for p in restored.features] == [repr(p) for p in distiller.features]
    assert_weights_close(
        [v for a in restored.feature_adapters for v in a.get_weights()],
        [v for a in distiller.feature_adapters for v in a.get_weights()],
    )
    student_file = tmp_path / "student.keras"
    distiller.student.save(student_file)
    reloaded = keras.models.load_model(student_file)
    assert reloaded.count_params() == student.count_params()
    assert not any("adapter" in v.path for v in reloaded.weights)


def test_relational_features_train_without_nan_when_embeddings_collapse():
    teacher = conv_model(8, "t")
    student = conv_model(4, "s")
    # A dead ReLU embedding: every sample maps to the same (zero) vector.
    emb = student.get_layer("emb")
    emb.bias.assign(-100.0 * np.ones(emb.bias.shape, "float32"))
    distiller = compiled(
        keras_distill.Distiller(
            teacher, student,
            features=[FeaturePair("emb", "emb", "rkd"), FeaturePair("emb", "emb", "sp")],
        )
    )
    x, y = data()
    history = distiller.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(np.asarray(w)).all() for w in student.get_weights())


def _tflite_parameter_count(path):
    """Elements of the float constant tensors stored in a .tflite file (its weights)."""
    from ai_edge_litert import schema_py_generated as schema

    buffer = open(path, "rb").read()
    model = schema.Model.GetRootAsModel(buffer, 0)
    count = 0
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for t in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(t)
            data = model.Buffers(tensor.Buffer())
            stored = data.DataLength() > 0 or data.Size() > 0
            if stored and tensor.Type() == schema.TensorType.FLOAT32:
                count += int(np.prod(tensor.ShapeAsNumpy()))
    return count


def _onnx_parameter_count(path):
    import onnx
    from onnx import numpy_helper

    arrays = [numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer]
    return sum(a.size for a in arrays if a.dtype == np.float32)


@pytest.mark.tensorflow_only
def test_exported_students_have_exactly_the_students_parameters(tmp_path):
    import tensorflow as tf

    teacher, student = conv_model(8, "t", embedding=24), conv_model(4, "s")
    distiller = compiled(
        keras_distill.Distiller(
            teacher, student, features=[FeaturePair("c2", "c2"), FeaturePair("emb", "emb")]
        )
    )
    x, y = data()
    distiller.fit(x, y, batch_size=16, verbose=0)
    params = student.count_params()
    assert sum(a.count_params() for a in distiller.feature_adapters) > 0
    keras_distill.export_saved_model(distiller.student, tmp_path / "sm", sample_inputs=x)
    saved = tf.saved_model.load(str(tmp_path / "sm"))
    assert sum(int(np.prod(v.shape)) for v in saved.variables) == params
    keras_distill.export_tflite(distiller.student, tmp_path / "s.tflite", sample_inputs=x)
    assert _tflite_parameter_count(tmp_path / "s.tflite") == params
    keras_distill.export_onnx(distiller.student, tmp_path / "s.onnx", sample_inputs=x)
    assert _onnx_parameter_count(str(tmp_path / "s.onnx")) == params
