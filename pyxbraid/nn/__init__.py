"""Numpy neural networks for parallel-in-time training: explicit forward and
backward with cached inputs, parameters in one flat vector, every matrix
product through one pluggable GEMM."""
from pyxbraid.nn.activations import Identity, ReLU, Sigmoid, SmoothReLU, Tanh, get_activation
from pyxbraid.nn.gemm import (gemm, gemm_backend, get_gemm_backend, make_gemm_backend,
                              set_gemm_backend)
from pyxbraid.nn.layers import Dense
from pyxbraid.nn.losses import MeanSquaredError, SoftmaxCrossEntropy, SumSquaredError, get_loss
from pyxbraid.nn.mlp import MLP
from pyxbraid.nn.conv import ConvOpening, ConvResidual, PoolClassifier, conv_resnet
from pyxbraid.nn.ends import DenseMap, EndMap
from pyxbraid.nn.residual import ActivatedResidual, DenseResidual, ResidualLayer
from pyxbraid.nn.resnet import ResNet, ResNetParams

__all__ = [
    "gemm", "set_gemm_backend", "get_gemm_backend", "gemm_backend", "make_gemm_backend",
    "Identity", "Sigmoid", "Tanh", "ReLU", "SmoothReLU", "get_activation",
    "SumSquaredError", "MeanSquaredError", "SoftmaxCrossEntropy", "get_loss",
    "Dense", "MLP", "ResNet", "ResNetParams", "ResidualLayer", "ActivatedResidual",
    "DenseResidual", "ConvResidual", "EndMap", "DenseMap", "ConvOpening", "PoolClassifier",
    "conv_resnet",
]
