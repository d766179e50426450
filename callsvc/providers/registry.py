"""The one place a PBX is plugged in: provider name → adapter."""

from callsvc.errors import NotFound
from callsvc.providers.aircall import AircallAdapter
from callsvc.providers.base import ProviderAdapter
from callsvc.providers.generic import GenericAdapter
from callsvc.providers.mango import MangoAdapter
from callsvc.providers.twilio import TwilioAdapter
from callsvc.providers.zadarma import ZadarmaAdapter
from callsvc.settings import Settings

ADAPTERS: dict[str, ProviderAdapter] = {
    adapter.name: adapter
    for adapter in (GenericAdapter(), TwilioAdapter(), ZadarmaAdapter(), MangoAdapter(), AircallAdapter())
}


def get_adapter(name: str, settings: Settings) -> ProviderAdapter:
    """Return the adapter for a provider whose secret is set; 404 otherwise."""
    adapter = ADAPTERS.get(name)
    if adapter is None:
        raise NotFound(f"no provider is called {name!r}", code="unknown_provider")
    if not adapter.is_configured(settings):
        raise NotFound(f"the {name} webhook is not configured on this server", code="provider_not_configured")
    return adapter
