"""Training in numpy: float and quantization-aware (bit-exact integer forward, STE backward).

arch.py parses --arch, network.py holds the layers and backprop, optim.py Adam and the schedule,
augment.py the affine augmentation, trainer.py the loop and selection on the validation split.
"""
from .arch import Arch, parse_arch
from .augment import AugmentConfig, augment, parse_augment
from .network import Network, softmax_xent
from .trainer import TrainConfig, TrainResult, int_logits, train

__all__ = ["Arch", "AugmentConfig", "Network", "TrainConfig", "TrainResult", "augment", "int_logits",
           "parse_arch", "parse_augment", "softmax_xent", "train"]
