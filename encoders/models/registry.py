"""Model registry: encoders are built by name so checkpoints can record how to rebuild them.

The encoder modules (:mod:`.imu`, :mod:`.pose`) register their factories on import; the
package imports them, so any ``encoders.models.*`` import sees a full registry.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return wrap


def create_model(name: str, **kwargs: object) -> nn.Module:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)


def registered_models() -> list[str]:
    return sorted(_REGISTRY)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
