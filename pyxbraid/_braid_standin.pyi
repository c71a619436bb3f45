from pyxbraid._braid import *
