"""A support ticket's intent from keywords: the baseline the fine-tuned intent classifier must
beat (its macro-F1 is logged beside the classifier's), and the intent clm gives while no
classifier has been trained.

Rules are tried in order and the first that matches names the intent: a request to close an
account or for money back says more than the complaint around it, and thanks close many
tickets that ask for something else.
"""

from __future__ import annotations

import re

import numpy as np

RULES: tuple[tuple[str, str], ...] = (
    ("cancel_or_unsubscribe", r"unsubscribe|(close|delete|remove|cancel) (my|the) (customer )?"
                              r"(account|membership|subscription)|stop sending|no longer want"),
    ("return_or_refund", r"refund|return|send (it )?back|money back|exchange"),
    ("complaint", r"broken|damaged|crushed|ruined|poor quality|fell apart|terrible|wrong item|missing|"
                  r"unhappy|disappointed|nothing like"),
    ("where_is_my_order", r"where is my|not arrived|n't arrived|tracking|delivered|shipped|still waiting|"
                          r"any update|nothing yet"),
    ("discount_request", r"discount|voucher|coupon|promo|sale\b|cheaper|price match|match it"),
    ("praise", r"thank|great|love|fantastic|excellent|happy|appreciated|perfect|lovely"),
)
DEFAULT = "product_question"
_COMPILED = tuple((intent, re.compile(pattern, re.IGNORECASE)) for intent, pattern in RULES)


def intent(text: str) -> str:
    return next((name for name, pattern in _COMPILED if pattern.search(text)), DEFAULT)


def intents(texts: list[str]) -> np.ndarray:
    return np.asarray([intent(text) for text in texts], dtype=object)
