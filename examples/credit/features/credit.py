"""Feature functions of the credit example: NumPy in, NumPy out (vectorized)."""

import numpy as np

from kaskad import feature

ANNUAL_RATE = 0.18


@feature(returns="float", inputs={"amount": "amount", "term": "term_months"})
def monthly_payment(amount, term):
    """Annuity payment on the requested amount at 18% a year, RUB per month."""
    rate = ANNUAL_RATE / 12
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return amount * rate / (1 - (1 + rate) ** -term)


@feature(returns="float", inputs={"income": "applicant.income"})
def payment_to_income(monthly_payment, income):
    """Share of monthly income the new loan payment would take."""
    # a tiny income (1e-300) overflows the share to infinity: no warning, the value says it
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return np.where(income > 0, monthly_payment / income, np.nan)
