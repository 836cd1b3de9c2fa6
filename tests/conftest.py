"""Shared pytest set-up for the package tests."""

import torch

# The tests run thousands of tiny tensor operations; on a 2-core machine shared
# with other work, intra-op threading makes them many times slower, not faster.
torch.set_num_threads(1)
