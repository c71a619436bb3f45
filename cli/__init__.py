"""mgrit-train: the command line of pyxbraid (installed as pyxbraid.cli)."""
