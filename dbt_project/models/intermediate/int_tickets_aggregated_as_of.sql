-- Support contacts per customer as of each date, from tickets written strictly before it: the
-- last 30 days' tickets, complaints and requests to cancel or unsubscribe, and the latest
-- ticket's intent, sentiment and age. Tickets are few per customer: joined to every date directly.
with tickets as (
    select * from {{ ref('int_tickets_scored') }}
)

select
    spine.customer_id,
    spine.as_of,
    count(*) filter (where tickets.created_at >= {{ dbt.dateadd('day', -30, 'spine.as_of') }}) as tickets_last_30d,
    count(*) filter (where tickets.intent = 'complaint' and tickets.created_at >= {{ dbt.dateadd('day', -30, 'spine.as_of') }})
        as complaints_last_30d,
    count(*) filter (where tickets.intent = 'cancel_or_unsubscribe'
                        and tickets.created_at >= {{ dbt.dateadd('day', -30, 'spine.as_of') }})
        as cancel_requests_last_30d,
    {{ dbt.datediff('max(tickets.created_at)', 'cast(spine.as_of as timestamp)', 'day') }} as days_since_last_ticket,
    -- NULL (a ticket no step named) is kept as '' and turned back: engines differ on whether
    -- max_by skips NULL values.
    nullif(max_by(coalesce(tickets.intent, ''), {{ clm.tuple_of('tickets.created_at', 'tickets.ticket_id') }}), '')
        as last_ticket_intent,
    max_by(tickets.sentiment, {{ clm.tuple_of('tickets.created_at', 'tickets.ticket_id') }}) as last_ticket_sentiment
from {{ ref('int_customers_spined') }} as spine
inner join tickets
    on tickets.customer_id = spine.customer_id
    and tickets.created_at < spine.as_of
group by spine.customer_id, spine.as_of
