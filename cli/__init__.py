"""mgrit-train: the command line of pyxbraid (installed as pyxbraid.cli).

Its dependencies are pyxbraid's extra [cli]; the library (pyxbraid, its nn,
data and train packages) needs none of them, and never imports this one."""
import sys

#: what the command line imports beyond the library: module -> distribution
DEPENDENCIES = {"click": "click", "pydantic": "pydantic", "yaml": "PyYAML",
                "matplotlib": "matplotlib"}


def missing_dependencies():
    """The distributions of DEPENDENCIES that cannot be imported."""
    import importlib

    missing = []
    for module, distribution in DEPENDENCIES.items():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise  # installed, but something it needs is not: its own error
            missing.append(distribution)
    return missing


def mgrit_train(argv=None):
    """The console script: a clear message when the extra is not installed,
    else pyxbraid.cli.main.main."""
    missing = missing_dependencies()
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        sys.exit(f"mgrit-train: error: {', '.join(missing)} {verb} not installed: the command "
                 f"line needs pyxbraid's extra [cli] (pip install 'pyxbraid[cli]')")
    from pyxbraid.cli.main import main
    main(argv)
