"""Look up a layer component (activation, loss) by name, and name one."""


def from_registry(registry, kind, name_or_instance):
    """registry[name]() (default parameters), or the instance itself when not a name."""
    if not isinstance(name_or_instance, str):
        return name_or_instance
    try:
        return registry[name_or_instance]()
    except KeyError:
        raise ValueError(f"unknown {kind} {name_or_instance!r}; known: "
                         f"{', '.join(registry)}") from None


def name_of(component):
    """The registry name of a component (its class's name when it has none)."""
    return getattr(component, "name", type(component).__name__)
