"""Training apps: the braid app base, MGRIT over SGD iterations, and the serial reference."""
from pyxbraid.train.braid_app import BraidApp, BraidRun, convergence_factor
from pyxbraid.train.serial import train_serial
from pyxbraid.train.sgd import DataSchedule, LearningRate, SGDStep
from pyxbraid.train.sgd_time import SGDTimeApp, SGDTimeResult, train_sgd_time
from pyxbraid.train.speedup import critical_path

__all__ = ["BraidApp", "BraidRun", "DataSchedule", "LearningRate", "SGDStep", "train_serial", "SGDTimeApp",
           "SGDTimeResult", "train_sgd_time", "convergence_factor", "critical_path"]
