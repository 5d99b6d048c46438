-- Customers that keep every contract rule. PII was pseudonymised as it landed (ml/data/pii.py):
-- the email is a keyed hash and names are gone, so nothing downstream can leak them.
select
    customer_id,
    email_hash,
    upper(trim(country)) as country,
    age_band,
    income_band,
    household_type,
    signed_up_at
from {{ ref('base_shop__customers') }}
where broken_rule is null
