-- One row per customer and as-of date, for every customer first seen before that date.
select
    customers.customer_id,
    dates.as_of,
    dates.purpose,
    customers.first_seen_at
from {{ ref('int_customers_first_seen') }} as customers
inner join {{ ref('int_as_of_dates') }} as dates
    on customers.first_seen_at < dates.as_of
