"""Entra ID credentials for the Azure adapters (imported lazily: embedded mode never needs azure-identity)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings


def default_credential(settings: Settings) -> TokenCredential:
    """``DefaultAzureCredential``, pinned to the user-assigned identity ``AZURE_CLIENT_ID`` when set.

    On Azure this is the Function App's managed identity; locally it falls back to ``az login``.
    """
    from azure.identity import DefaultAzureCredential

    if settings.azure_client_id:
        return DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
    return DefaultAzureCredential()
