"""The demo's teacher and student: networks as in Hinton et al. (2015), or a small CNN teacher."""

import keras


def teacher(num_inputs, num_classes, recipe, image_shape=None, name="teacher"):
    """The teacher of `recipe`, logits out.

    `"mlp"`: ReLU MLP with input and hidden dropout and max-norm kernels.
    `"cnn"`: two 5x5 ReLU convolutions, each max-pooled, on the flattened
    images reshaped to `image_shape`, then the same dense layers as the MLP.
    """
    layers = [keras.Input((num_inputs,))]
    if recipe.teacher_model == "cnn":
        layers.append(keras.layers.Reshape((*image_shape, 1)))
        for filters in recipe.teacher_filters:
            layers += [
                keras.layers.Conv2D(filters, 5, activation="relu"),
                keras.layers.MaxPooling2D(),
            ]
        layers.append(keras.layers.Flatten())
        layers.append(keras.layers.Dropout(recipe.hidden_dropout))
    else:
        layers.append(keras.layers.Dropout(recipe.input_dropout))
    for units in recipe.teacher_hidden:
        layers += [
            keras.layers.Dense(
                units,
                activation="relu",
                kernel_constraint=keras.constraints.MaxNorm(recipe.max_norm),
            ),
            keras.layers.Dropout(recipe.hidden_dropout),
        ]
    layers.append(keras.layers.Dense(num_classes, name="logits"))
    return keras.Sequential(layers, name=name)


def student(num_inputs, num_classes, recipe, name="student"):
    """ReLU MLP without any regularization, logits out."""
    layers = [keras.Input((num_inputs,))]
    layers += [keras.layers.Dense(units, activation="relu") for units in recipe.student_hidden]
    layers.append(keras.layers.Dense(num_classes, name="logits"))
    return keras.Sequential(layers, name=name)


def optimizer(learning_rate, total_steps, warmup_steps=0):
    """Adam with the learning rate cosine-decayed to 0 over `total_steps`, after
    a linear warm-up from 0 over the first `warmup_steps` of them."""
    if not warmup_steps:
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, total_steps))
    else:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, max(1, total_steps - warmup_steps), warmup_target=learning_rate,
            warmup_steps=warmup_steps,
        )
    return keras.optimizers.Adam(schedule)


def classifier_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
