"""Contract errors. All are permanent: retrying the same message cannot fix them."""

from __future__ import annotations

from shared.contracts import ENVELOPE_URI


class ContractError(ValueError):
    """A contract problem. Permanent: retrying the same message cannot fix it."""


class UnknownTypeError(ContractError):
    """No contract has this type name."""


class UnknownVersionError(ContractError):
    """The type exists but not at this version."""


class RetiredVersionError(ContractError):
    """The version exists but is retired: nobody may emit or accept it any more."""


class PayloadInvalidError(ContractError):
    """The payload does not match its schema. ``errors`` lists every problem with its path."""

    def __init__(self, type: str, version: str, errors: list[str], schema_uri: str = "") -> None:
        self.type = type
        self.version = version
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(
            f"{type}@{version} payload is invalid ({len(errors)} problem{'s' if len(errors) != 1 else ''}):"
            f"\n{lines}\nFix the producer so its payload matches {schema_uri or 'the schema'}."
        )


class EnvelopeInvalidError(ContractError):
    """The envelope does not match ``contracts/envelope.v1.json``."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"envelope is invalid ({len(errors)} problem{'s' if len(errors) != 1 else ''}):"
                         f"\n{lines}\nSee {ENVELOPE_URI} for the fields an envelope carries.")


class EmitterNotAllowedError(ContractError):
    """The source is not among the contract's ``emitters`` (its access policy)."""


# --------------------------------------------------------------------------- schema info


class MessageTooLargeError(ContractError):
    """The encoded message is larger than the bus takes (``FACTORY_MAX_MESSAGE_BYTES``): refused before publishing."""
