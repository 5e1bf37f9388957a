"""Reference solution of notebook 02's exercise (what a layer keeps once packed). Headless runs
(``BMP_SOLUTIONS=1``) use it in place of the notebook's stub; try the exercise before reading it."""


def weights_after_packing(hidden: int, head_dim: int, heads: int, neurons: int) -> int:
    """Linear weights (no biases) of a packed layer with ``heads`` heads and ``neurons`` FFN neurons."""
    attention = 4 * hidden * heads * head_dim  # Q, K, V rows and attention-output columns of the kept heads
    ffn = 2 * hidden * neurons  # FFN-in rows and FFN-out columns of the kept neurons
    return attention + ffn
