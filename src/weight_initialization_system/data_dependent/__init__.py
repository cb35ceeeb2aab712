"""Data-dependent initialization: LSUV (Mishkin & Matas, 2016) and the weight-norm data init (Salimans &
Kingma, 2016), each calibrated in a single forward pass."""

from ._session import DataLike
from .lsuv import LSUV_LAYERS, LayerCalibration, LSUVReport, Statistic, lsuv_init
from .weight_norm_init import LayerDataInit, weight_norm_data_init

__all__ = [
    "LSUV_LAYERS",
    "DataLike",
    "LSUVReport",
    "LayerCalibration",
    "LayerDataInit",
    "Statistic",
    "lsuv_init",
    "weight_norm_data_init",
]
