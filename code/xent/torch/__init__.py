"""xent.torch: the book's functions built from elementary torch ops.

Names and signatures mirror ``torch.nn.functional``; results match PyTorch's,
including dtypes (float16 is computed in float32 inside and returned as float16).
Differentiable by autograd; never calls the torch.nn.functional function of the same name.
"""

from .activations import *  # noqa: F403
from .classification import *  # noqa: F403
from .margin import *  # noqa: F403
from .normalisers import *  # noqa: F403
from .regression import *  # noqa: F403
