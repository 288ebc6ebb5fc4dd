"""The grading benchmark's submissions for Spatial Operations (``python -m grader bench``)."""
from grader.harness.bench_grading import Kind

from .attacks import INFINITE_LOOP, SLEEP_FOREVER

# cells inserted after the setup cell of a runaway submission
RUNAWAY_CELLS = {"infinite_loop": INFINITE_LOOP, "sleep_forever": SLEEP_FOREVER}
# the styles the isolation measurement grades: the slowest correct style and a fast one
ISOLATION_STYLES = ("loops", "im2col")

MIXES: dict[str, list[Kind]] = {
    # every kind equally often, interleaved; 12 submissions hold each once
    "default": [
        Kind("correct", "loops"), Kind("buggy", "flipped_kernel"), Kind("runaway", "infinite_loop", "loops"),
        Kind("correct", "im2col"), Kind("buggy", "maxpool_default_stride_1"), Kind("correct", "einsum"),
        Kind("buggy", "avgpool_divides_by_4"), Kind("runaway", "sleep_forever", "im2col"),
        Kind("correct", "strided"), Kind("buggy", "bias_grad_first_item"), Kind("correct", "float32"),
        Kind("buggy", "outsize_true_division"),
    ],
    # dominated by cheap submissions (for --scale)
    "cheap": [
        Kind("blank", "release", weight=850),
        Kind("correct", "im2col", weight=40), Kind("correct", "einsum", weight=40),
        Kind("buggy", "conv_stride_ignored", weight=10), Kind("buggy", "maxpool_zero_padding", weight=10),
        Kind("buggy", "avgpool_excludes_padding", weight=10), Kind("buggy", "flatten_breaks_graph", weight=10),
        Kind("buggy", "outsize_missing_plus_one", weight=10),
        Kind("broken", "invalid_json", weight=10), Kind("broken", "empty_file", weight=5),
        Kind("runaway", "sleep_forever", "im2col", weight=5),
    ],
    # a class handing in to the grading service (python -m grader bench-service): mostly working code in the
    # quicker styles, some in loops, and about a quarter with a catalogued bug
    "service": [
        Kind("correct", "im2col", weight=5), Kind("correct", "einsum", weight=4), Kind("correct", "strided", weight=4),
        Kind("correct", "loops", weight=3),
        Kind("buggy", "outsize_true_division"), Kind("buggy", "conv_stride_ignored"),
        Kind("buggy", "maxpool_zero_padding"), Kind("buggy", "avgpool_excludes_padding"),
        Kind("buggy", "flatten_breaks_graph"), Kind("buggy", "flipped_kernel"),
    ],
}
