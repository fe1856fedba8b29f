"""Architectures and training budgets of the demo, per dataset and preset.

MNIST follows Hinton et al. (2015): a 784-1200-1200-10 teacher with dropout
and +-2 pixel jitter, a 784-800-800-10 student without regularization, T=20.
The digits (8x8) variant is the same recipe scaled down to run in seconds.
`recipe(..., teacher="cnn")` swaps in a small convolutional teacher (MNIST
only; not in the paper) and keeps everything else.
"""

import dataclasses

PRESETS = ("quick", "full")
DATASETS = ("mnist", "digits")
TEACHERS = ("mlp", "cnn")
TEACHINGS = ("consistent", "cached")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What the demo trains and for how long.

    Attributes:
        teacher_hidden: Units of each hidden (dense) layer of the teacher.
        student_hidden: Units of each hidden layer of the student.
        input_dropout: Dropout on the teacher's inputs.
        hidden_dropout: Dropout after each hidden layer of the teacher.
        max_norm: Max-norm constraint on the teacher's hidden kernels.
        max_shift: Jitter of the teacher's training images, in pixels.
        teacher_epochs: Epochs of the teacher.
        student_epochs: Epochs of the student trained alone.
        distill_epochs: Epochs of distillation.
        fine_tune_epochs: Epochs of fine-tuning after distillation.
        batch_size: Batch size of every phase.
        learning_rate: Initial Adam learning rate (cosine-decayed to 0).
        temperature: Distillation temperature.
        alpha: Weight of the hard-label loss while distilling.
        fine_tune_alpha: Weight of the hard-label loss while fine-tuning.
        fine_tune_learning_rate: Constant learning rate while fine-tuning.
        calibration_samples: Training inputs calibrating the int8 TFLite model.
        teacher_model: `"mlp"` (Hinton et al.) or `"cnn"` (a small
            convolutional teacher, not in the paper).
        teacher_filters: Filters of each 5x5 convolution of a `"cnn"` teacher.
        teaching: `"cached"` (Hinton et al.: the student learns the cached
            logits of the un-augmented training set) or `"consistent"`
            (Beyer et al. 2022: the online teacher labels every jittered,
            mixed-up batch the student sees).
        consistent_epochs: Epochs of consistent teaching.
        consistent_batch_size: Batch size of consistent teaching.
        consistent_temperature: Temperature of consistent teaching.
        consistent_alpha: Weight of the hard-label loss in consistent teaching.
        consistent_mixup: Whether consistent teaching mixes up every batch.
        teacher_count: Teachers trained (each from its own initial weights)
            and averaged by a `TeacherEnsemble`; 1: a single teacher.
        deformation: Arguments of the `RandomDeformation` (affine and elastic)
            that replaces the jitter, for the teachers and in consistent
            teaching; `None`: the jitter of `max_shift` pixels.
        warmup_epochs: Epochs of linear learning-rate warm-up before the
            cosine decay of consistent teaching.
        consistent_views: Deformed views of every training image the teacher
            labels once before consistent teaching (a `TeacherCache`; needs
            `deformation`). The views are kept in memory (that many times the
            training images: 3.8 GB for MNIST's 20) and served one per image
            and epoch; 0: the teacher runs online on every batch.
    """

    teacher_hidden: tuple
    student_hidden: tuple
    input_dropout: float
    hidden_dropout: float
    max_norm: float
    max_shift: int
    teacher_epochs: int
    student_epochs: int
    distill_epochs: int
    fine_tune_epochs: int
    batch_size: int
    learning_rate: float = 1e-3
    temperature: float = 20.0
    alpha: float = 0.1
    fine_tune_alpha: float = 0.5
    fine_tune_learning_rate: float = 1e-5
    calibration_samples: int = 500
    teacher_model: str = "mlp"
    teacher_filters: tuple = ()
    teaching: str = "cached"
    consistent_epochs: int = 0
    consistent_batch_size: int = 64
    consistent_temperature: float = 1.0
    consistent_alpha: float = 0.0
    consistent_mixup: bool = True
    teacher_count: int = 1
    deformation: dict = None
    warmup_epochs: int = 0
    consistent_views: int = 0

    def __post_init__(self):
        if self.consistent_views and self.consistent_mixup:
            # A cached view's logits belong to that view alone; a mixed-up batch
            # would pair them with another image (the Distiller refuses it).
            raise ValueError(
                "`consistent_views` (cached views) needs `consistent_mixup=False`: the "
                "cached logits belong to the unmixed views. Received "
                f"consistent_views={self.consistent_views}, consistent_mixup=True."
            )


_MNIST = dict(
    teacher_hidden=(1200, 1200),
    student_hidden=(800, 800),
    input_dropout=0.1,
    hidden_dropout=0.4,
    max_norm=4.0,
    max_shift=2,
    batch_size=128,
    # Consistent teaching on MNIST: the online teacher labels each jittered
    # batch (the teacher's own augmentation), T=4.
    teaching="consistent",
    consistent_epochs=30,
    consistent_batch_size=128,
    consistent_temperature=4.0,
    consistent_alpha=0.1,
    consistent_mixup=False,
)
# On 8x8 images one pixel is an eighth of the image: no jitter. Students
# with few units distil best at low temperatures (Hinton et al. 2015, 2.5-4).
_DIGITS = dict(
    teacher_hidden=(256, 256),
    student_hidden=(32, 32),
    input_dropout=0.1,
    hidden_dropout=0.3,
    max_norm=4.0,
    max_shift=0,
    batch_size=32,
    learning_rate=3e-3,
    temperature=4.0,
    calibration_samples=300,
    # Function matching (Beyer et al. 2022): mixup on every batch, pure KL at
    # T=1, a long schedule (benchmarks/results/methods.md, docs/demo.md).
    teaching="consistent",
    consistent_epochs=300,
    consistent_batch_size=32,
)
RECIPES = {
    # A few epochs are too few for jitter and heavy dropout to pay off: the
    # quick teacher is lightly regularized so that it beats the student alone.
    ("mnist", "quick"): Recipe(
        **{**_MNIST, "input_dropout": 0.0, "hidden_dropout": 0.2, "max_shift": 0,
           "consistent_epochs": 5},
        teacher_epochs=8, student_epochs=5, distill_epochs=4, fine_tune_epochs=1,
    ),
    ("mnist", "full"): Recipe(
        **_MNIST, teacher_epochs=36, student_epochs=10, distill_epochs=20, fine_tune_epochs=2
    ),
    ("digits", "quick"): Recipe(
        **_DIGITS, teacher_epochs=30, student_epochs=32, distill_epochs=30, fine_tune_epochs=2
    ),
    ("digits", "full"): Recipe(
        **_DIGITS, teacher_epochs=80, student_epochs=85, distill_epochs=80, fine_tune_epochs=5
    ),
}


# Not in the paper: a LeNet-like convolutional teacher, with a training step
# about as cheap on CPU as the 784-1200-1200-10 network's (results in
# benchmarks/results/hinton_mnist.md). Jitter and dense dropout regularize it;
# the student and its transfer set are unchanged.
_CNN_TEACHER = dict(
    teacher_model="cnn", teacher_filters=(16, 32), teacher_hidden=(256,), input_dropout=0.0,
)
# The full preset's record recipe: two wider CNNs trained on affine and
# elastic deformations, averaged, then a patient consistent student that sees
# the same deformed views as the ensemble labelling them. The ensemble labels
# 20 views of every image once (a `TeacherCache`), so a student epoch costs no
# teacher pass (60 epochs: about 30 minutes on 2 cores, teachers included).
_RECORD_TEACHERS = dict(
    _CNN_TEACHER, teacher_filters=(32, 64), hidden_dropout=0.3, teacher_count=2,
    teacher_epochs=14,
    deformation=dict(rotation=8.0, scale=0.08, shear=8.0, translation=2.0, elastic=1.5),
    consistent_epochs=60, consistent_views=20, warmup_epochs=1,
)
_CNN_TEACHERS = {"quick": _CNN_TEACHER, "full": _RECORD_TEACHERS}


# Fields only one teaching uses; the other's run never reads them.
_CACHED_ONLY = (
    "distill_epochs", "fine_tune_epochs", "temperature", "alpha", "fine_tune_alpha",
    "fine_tune_learning_rate",
)
_CONSISTENT_ONLY = (
    "consistent_epochs", "consistent_batch_size", "consistent_temperature", "consistent_alpha",
    "consistent_mixup", "warmup_epochs", "consistent_views",
)


def settings(recipe):
    """The fields of `recipe` that its run uses, as a dict: a consistent run
    leaves out the cached recipe's temperature, alpha and epochs and vice
    versa, and an MLP teacher has no `teacher_filters`."""
    unused = _CACHED_ONLY if recipe.teaching == "consistent" else _CONSISTENT_ONLY
    if recipe.teacher_model != "cnn":
        unused += ("teacher_filters",)
    unused += ("max_shift",) if recipe.deformation else ("deformation",)
    return {
        key: value for key, value in dataclasses.asdict(recipe).items() if key not in unused
    }


def recipe(dataset, preset, teacher=None, teaching=None):
    """The `Recipe` of `dataset` (`"mnist"`/`"digits"`) and `preset` (`"quick"`/`"full"`),
    with the paper's `"mlp"` teacher or a small `"cnn"` teacher (MNIST only; `None`: the
    CNN on MNIST, where a few epochs make it a teacher worth learning from, the MLP on
    digits), and `"consistent"` or `"cached"` teaching (`None`: the preset's)."""
    if dataset not in DATASETS:
        raise ValueError(f"`dataset` must be one of {DATASETS}. Received: {dataset!r}.")
    if teacher is None:
        teacher = "cnn" if dataset == "mnist" else "mlp"
    if preset not in PRESETS:
        raise ValueError(f"`preset` must be one of {PRESETS}. Received: {preset!r}.")
    if teacher not in TEACHERS:
        raise ValueError(f"`teacher` must be one of {TEACHERS}. Received: {teacher!r}.")
    if teacher == "cnn" and dataset != "mnist":
        raise ValueError(
            f"`teacher='cnn'` needs 28x28 MNIST images (two 5x5 convolutions); "
            f"use `teacher='mlp'` with `dataset={dataset!r}`."
        )
    if teaching is not None and teaching not in TEACHINGS:
        raise ValueError(f"`teaching` must be one of {TEACHINGS}. Received: {teaching!r}.")
    base = RECIPES[(dataset, preset)]
    if teacher == "cnn":
        base = dataclasses.replace(base, **_CNN_TEACHERS[preset])
    if teaching is not None:
        base = dataclasses.replace(base, teaching=teaching)
    return base
