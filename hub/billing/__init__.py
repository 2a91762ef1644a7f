"""Billing: one module per billing model, and the plan that turns their bills into invoices.

The models (``time_material``, ``fixed_fee``, ``retainer``, ``milestone``, ``warranty``) are pure
functions of a snapshot of a contract's work and the time (see ``base``); ``snapshot`` reads that
snapshot from the hub store, ``plan`` decides which invoice ops make the invoices match it, and
``invoices`` holds the office actions (draft, approve, send, paid, void). The engine and its
routes live in ``hub.engines.billing``.

Registry: a module of this package that defines ``MODEL`` (with ``contract_type``) is the model
for that contract type — adding a billing model is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from functools import cache
from typing import Any

from .base import BillingModel, Terms


@cache
def models() -> dict[str, BillingModel]:
    """Every billing model of this package, by the contract type it bills."""
    found: dict[str, BillingModel] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        model = getattr(module, "MODEL", None)
        if model is not None:
            if model.contract_type in found:
                raise TypeError(f"two billing models for contract type {model.contract_type!r}")
            found[model.contract_type] = model
    return found


def model_for(contract_type: str | None) -> BillingModel | None:
    return models().get(contract_type or "")


def currency_problem(contract: dict[str, Any], price_list_currency: str, issued: Iterable[str] = ()) -> str | None:
    """Why ``contract`` cannot be billed in its currency, or None. Its later invoices follow the ones
    it has ``issued`` (supplementary invoices relate to them, credit notes and retainer adjustments
    are netted against them), so its currency is theirs; and a type that bills parts from the price
    list (whose prices and costs are all in the hub's ``price_list_currency``) must be in that one.
    Otherwise an invoice would mix two currencies."""
    currency = Terms.of(contract).currency
    other = sorted(set(issued) - {currency})
    if other:
        return (f"{currency} is not the currency of the invoices the contract has issued ({', '.join(other)}), "
                "which its later invoices, credit notes and adjustments follow; keep "
                f"{other[0]}, or bill in {currency} under a new contract")
    model = model_for(contract.get("type"))
    if model is None or not model.uses_price_list or currency == price_list_currency:
        return None
    return (f"{currency} is not the currency of the parts price list ({price_list_currency}) that a "
            f"{model.contract_type} contract bills parts from, so its invoices would mix the two; "
            f"use {price_list_currency}")


__all__ = ["models", "model_for", "currency_problem"]
