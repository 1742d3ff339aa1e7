"""The layer's defaults (read-only context unless ``task.context=evolve``): what
``TokenMixer(hidden_size, num_heads)`` uses when the task passes no ``mixer_options``."""

#: Width of the causal depthwise convolutions over time.
CONV_SIZE = 4
#: Chunk length of the chunkwise-parallel delta rule.
CHUNK_SIZE = 64
#: Epsilon of the output RMSNorm.
NORM_EPS = 1e-5
