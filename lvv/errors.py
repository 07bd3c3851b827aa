"""The exceptions that carry a message meant for the user (printed as one line by the CLI)."""

from __future__ import annotations


def known_errors() -> tuple[type[Exception], ...]:
    from lvv.settings import SettingsError
    from schemas.contracts import ContractError
    from transforms.gate import ReleaseError
    from transforms.publish import PublicationBusy
    from transforms.queries import QueryError
    from transforms.store import StoreError

    errors: list[type[Exception]] = [SettingsError, ContractError, QueryError, ReleaseError,
                                     PublicationBusy, StoreError]
    try:
        from lvv.demo import DemoError

        errors.append(DemoError)
    except ImportError:
        pass
    return tuple(errors)
