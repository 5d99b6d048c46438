{{ config(materialized='view') }}
-- depends_on: {{ ref('sentiment_lexicon') }} (read by the macro lexicon_sentiment)
-- Every support ticket with its intent and the sentiment of its text.
-- Intent: the help desk's label where an agent set one; else the ticket intent classifier's
-- (ml/training/ticket_intent.py), or the keyword rules' while there is no classifier, both
-- written into ticket_intents_staged by the score_tickets step.
-- Sentiment: the review sentiment classifier's score of the text where score_tickets wrote one
-- into ticket_sentiment_staged, else the lexicon's (macro lexicon_sentiment), as for reviews.
-- A view: the ticket aggregation reads it at every as-of date.
with tickets as (
    select * from {{ ref('stg_shop__tickets') }}
),

lexicon_scored as (
    {{ lexicon_sentiment('tickets', 'ticket_id', 'text') }}
),

intents as (
    {{ clm_ml_table_or_empty('ticket_intents_staged', {'text': 'string', 'intent': 'string', 'confidence': 'double',
                                                       'model_version': 'integer'}) }}
),

sentiments as (
    {{ clm_ml_table_or_empty('ticket_sentiment_staged', {'text': 'string', 'sentiment_score': 'double'}) }}
)

select
    tickets.ticket_id,
    tickets.customer_id,
    tickets.created_at,
    coalesce(tickets.intent, intents.intent) as intent,
    case
        when tickets.intent is not null then 'help desk'
        when intents.model_version is not null then 'classifier'
        when intents.intent is not null then 'keywords'
    end as intent_source,
    coalesce(sentiments.sentiment_score, lexicon_scored.lexicon_sentiment, 0) as sentiment,
    case when sentiments.sentiment_score is not null then 'classifier' else 'lexicon' end as sentiment_source
from tickets
left join intents on intents.text = tickets.text
left join sentiments on sentiments.text = tickets.text
left join lexicon_scored on lexicon_scored.ticket_id = tickets.ticket_id
