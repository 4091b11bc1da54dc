"""Whose data a request may see: the tenant of the authenticated caller, or the service's one tenant.

A multi-tenant service reads the tenant from the caller's identity that App Service
Authentication (Easy Auth) puts in the ``x-ms-client-principal`` header: base64 JSON with a
``claims`` list. The claim type is the ``TENANT_CLAIM`` app setting (by default the Entra ID
tenant id claim). Easy Auth must be switched on (the generated Bicep does), so callers cannot
send the header themselves. A request without an authenticated caller is refused with 401.
A single-tenant service keeps every item under its one tenant.
"""

import base64
import binascii
import json
import os
import re

import azure.functions as func

from sample_service.problems import Problem

PRINCIPAL_HEADER = "x-ms-client-principal"
DEFAULT_TENANT_CLAIMS = ("http://schemas.microsoft.com/identity/claims/tenantid", "tid")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _claims(header: str) -> list[dict[str, str]]:
    try:
        principal = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise Problem(401, f"The {PRINCIPAL_HEADER} header is not base64 JSON; sign in again.") from exc
    claims = principal.get("claims") if isinstance(principal, dict) else None
    if not isinstance(claims, list):
        raise Problem(401, f"The {PRINCIPAL_HEADER} header has no claims; sign in again.")
    return [c for c in claims if isinstance(c, dict)]


def caller_tenant(req: func.HttpRequest) -> str:
    """The tenant claim of the authenticated caller (401 when there is none)."""
    header = req.headers.get(PRINCIPAL_HEADER)
    if not header:
        raise Problem(401, "This service keeps each tenant's data apart and needs an authenticated caller; "
                           "sign in (App Service Authentication sets the x-ms-client-principal header).")
    wanted = [os.environ["TENANT_CLAIM"]] if os.environ.get("TENANT_CLAIM") else list(DEFAULT_TENANT_CLAIMS)
    for claim in _claims(header):
        if claim.get("typ") in wanted:
            tenant = str(claim.get("val", ""))
            if not _TENANT.fullmatch(tenant):
                raise Problem(401, f"The caller's tenant claim {tenant[:64]!r} is not a valid tenant id.")
            return tenant
    raise Problem(401, f"The caller has no tenant claim ({', '.join(wanted)}); ask an administrator to add it.")


def tenant_of(req: func.HttpRequest, mode: str, default_tenant: str) -> str:
    return caller_tenant(req) if mode == "multi" else default_tenant


def principal_header(tenant: str, claim: str = DEFAULT_TENANT_CLAIMS[0]) -> dict[str, str]:
    """The header Easy Auth would send for a caller of ``tenant`` (for tests and local calls)."""
    principal = {"auth_typ": "aad", "claims": [{"typ": claim, "val": tenant}]}
    return {PRINCIPAL_HEADER: base64.b64encode(json.dumps(principal).encode()).decode()}
