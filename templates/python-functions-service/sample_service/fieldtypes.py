"""Building blocks of the generated models: strict bodies, e-mail, decimals written as text, UTC times.

Bodies are validated in pydantic's strict mode from the raw JSON: no type coercion (``"1"`` is not
an integer, ``"yes"`` is not a boolean, ``1.0`` is not an integer), unknown fields are refused,
only the JSON names are accepted (never a Python attribute name such as ``from_``), and
``NaN``/``Infinity`` are refused.
"""

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_DECIMAL_TEXT = re.compile(r"^-?[0-9]{1,28}(\.[0-9]{1,28})?$")


class Body(BaseModel):
    """A request body: strict, closed, JSON names only."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, populate_by_name=False)


class Stored(BaseModel):
    """An item as the API returns it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=False)


def decimal_text(value: Any) -> Decimal:
    """Decimals travel as JSON strings (``"12.50"``) so no digit is lost to binary floating point."""
    if not isinstance(value, str) or not _DECIMAL_TEXT.fullmatch(value):
        raise ValueError('must be a decimal number written as a JSON string, e.g. "12.50"')
    return Decimal(value)


def utc(value: dt.datetime) -> dt.datetime:
    """Date-times are stored in UTC so they compare and sort the same everywhere."""
    return value.astimezone(dt.UTC)


Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254)]
#: ids the service hands out are UUIDs; a reference must look like an id (nothing a store would misread)
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
ItemId = Annotated[str, Field(pattern=ID_PATTERN)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(utc)]
