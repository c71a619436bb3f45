"""Look up a layer component (activation, loss) by name."""


def from_registry(registry, kind, name_or_instance):
    """registry[name]() (default parameters), or the instance itself when not a name."""
    if not isinstance(name_or_instance, str):
        return name_or_instance
    try:
        return registry[name_or_instance]()
    except KeyError:
        raise ValueError(f"unknown {kind} {name_or_instance!r}; known: "
                         f"{', '.join(registry)}") from None
