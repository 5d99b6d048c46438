"""Drafted replies: the support team's templates (replies.yml) filled with what clm knows about
the customer, and the retention offer the CRM team chose where it may be made.

The offer is the customer's next best action. It is made unless the customer is in that
action's holdout: a holdout customer who got the offer from support would be treated after
all, and campaign_effect would measure the action against customers who had it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

import yaml

from ml.analysts_file import first_line
from ml.serve.context import Customer

DEFAULT = Path(__file__).with_name("replies.yml")
FIELDS = ("offer", "recommendations", "last_purchase")
NO_ACTION = "no action"


class TemplatesError(ValueError):
    """The reply templates file cannot be used; the message names the file, entry and problem."""


@dataclass(frozen=True)
class Templates:
    intents: dict[str, str]
    offers: dict[str, str]


@dataclass(frozen=True)
class Draft:
    text: str
    offer_made: bool
    why: str


def load(path: Path, intents: tuple[str, ...]) -> Templates:
    """Read and check the templates: one per intent, strings only, and no field but FIELDS."""
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise TemplatesError(f"The reply templates at {path} cannot be read ({first_line(error)}).") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("intents"), dict):
        raise TemplatesError(f"{path} must map `intents` to one template per intent ({', '.join(intents)}).")
    offers = spec.get("offers") or {}
    missing = [name for name in intents if name not in spec["intents"]]
    unknown = [name for name in spec["intents"] if name not in intents]
    problems = [f"no template for {', '.join(missing)}"] if missing else []
    problems += [f"templates for intents clm does not know: {', '.join(unknown)}"] if unknown else []
    for section, entries in (("intents", spec["intents"]), ("offers", offers)):
        for name, text in entries.items():
            if not isinstance(text, str):
                problems.append(f"{section}.{name} is not text")
                continue
            fields = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
            if bad := sorted(fields - set(FIELDS) if section == "intents" else fields):
                allowed = ", ".join("{" + f + "}" for f in FIELDS) if section == "intents" else "none"
                problems.append(f"{section}.{name} uses {', '.join('{' + f + '}' for f in bad)} (fields: {allowed})")
    if problems:
        raise TemplatesError(f"The reply templates at {path} need fixing: {'; '.join(problems)}.")
    return Templates(dict(spec["intents"]), dict(offers))


def draft(templates: Templates, intent: str, customer: Customer) -> Draft:
    """The reply to a message of `intent` from `customer`, and why an offer was or was not made."""
    offer, why = _offer(templates, customer)
    names = [item["product_name"] or item["product_id"] for item in customer.recommendations]
    recommendations = (", ".join(names[:-1]) + " and " + names[-1]) if len(names) > 1 else (
        names[0] if names else "our new arrivals")
    last = customer.latest_purchases[0] if customer.latest_purchases else None
    text = templates.intents[intent].format(
        offer=offer or "", recommendations=recommendations,
        last_purchase=(last["product_name"] or last["product_id"]) if last else "your order")
    return Draft(re.sub(r"\s+", " ", text).strip(), offer is not None, why)


def _offer(templates: Templates, customer: Customer) -> tuple[str | None, str]:
    if customer.action is None:
        return None, f"no offer: no next best action was chosen for this customer on {customer.as_of}"
    if customer.action == NO_ACTION:
        return None, (f"no offer: the next best action is no action (risk band {customer.risk_band}, value tier "
                      f"{customer.value_tier})")
    if customer.in_holdout:
        return None, (f"no offer: the customer is in the holdout of the campaign '{customer.campaign}', which "
                      "measures the action against customers who do not get it")
    if customer.action not in templates.offers:
        return None, f"no offer: the templates have no offer text for the action '{customer.action}'"
    return templates.offers[customer.action], (
        f"offer made: the next best action is '{customer.action}' (risk band {customer.risk_band}, value tier "
        f"{customer.value_tier}) and the customer is not in its holdout")
