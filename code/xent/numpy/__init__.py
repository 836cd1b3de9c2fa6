"""xent.numpy: the book's functions written from scratch in NumPy.

Names and signatures mirror ``torch.nn.functional``; results match PyTorch's,
including dtypes (float16 is computed in float32 inside and returned as float16).
This module never imports torch.
"""

from .activations import *  # noqa: F403
from .classification import *  # noqa: F403
from .margin import *  # noqa: F403
from .normalisers import *  # noqa: F403
from .regression import *  # noqa: F403
