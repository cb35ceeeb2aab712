"""Reference architectures in plain PyTorch: the seed's models, MLPs and deep stacks for experiments."""

from ._layers import ACTIVATIONS, FeedForward, MultiHeadSelfAttention, TransformerBlock, make_activation
from .cnn import CustomCNNModel, ResidualBlock
from .hybrid import CNNTransformerHybrid
from .mlp import deep_mlp, mlp
from .rnn import CustomRNNModel
from .transformer import CustomTransformerModel

__all__ = [
    "ACTIVATIONS",
    "CNNTransformerHybrid",
    "CustomCNNModel",
    "CustomRNNModel",
    "CustomTransformerModel",
    "FeedForward",
    "MultiHeadSelfAttention",
    "ResidualBlock",
    "TransformerBlock",
    "deep_mlp",
    "make_activation",
    "mlp",
]
