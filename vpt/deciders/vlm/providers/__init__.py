"""One module per provider; :data:`PROVIDERS` maps the CLI name to ``module:Class``.

Adding a provider is one file here (a subclass of :class:`~.base.Provider`) and one line below.
"""

from __future__ import annotations

import importlib

from vpt.errors import UserError
from vpt.extras import MissingExtra

PROVIDERS = {
    "openai": "vpt.deciders.vlm.providers.openai:OpenAIProvider",
    "anthropic": "vpt.deciders.vlm.providers.anthropic:AnthropicProvider",
    "google": "vpt.deciders.vlm.providers.google:GoogleProvider",
    "openai-compatible": "vpt.deciders.vlm.providers.openai_compatible:OpenAICompatibleProvider",
}


def provider_class(name: str) -> type:
    """The provider class for ``name`` (imports its SDK only now)."""
    if name not in PROVIDERS:
        raise UserError(f"unknown provider {name!r}; choose from {', '.join(PROVIDERS)}")
    module, cls = PROVIDERS[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as err:  # every provider's SDK (and what it imports) comes with the vlm extra
        if (err.name or "").split(".")[0] == "vpt":
            raise
        raise MissingExtra(f"vpt vlm --provider {name}", err.name or "its SDK", "vlm") from None
