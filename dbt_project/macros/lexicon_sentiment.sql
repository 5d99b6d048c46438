{#- A query giving each text of `texts` (a relation or CTE with columns `key` and `text`) its
    lexicon sentiment: the mean polarity of its words found in the seed sentiment_lexicon, a
    word's polarity flipped after "not", "no" or "never". Texts without a lexicon word get 0;
    NULL texts get no row. Reviews and support tickets are scored by the same rules. -#}
{% macro lexicon_sentiment(texts, key, text) -%}
select polarities.{{ key }}, coalesce(avg(polarities.polarity), 0) as lexicon_sentiment
from (
    select
        tokens.{{ key }},
        lexicon.polarity
            * case when lag(tokens.word) over (partition by tokens.{{ key }} order by tokens.position)
                        in ('not', 'no', 'never') then -1 else 1 end as polarity
    from (
        select {{ key }}, {{ clm.unnest_with_position('words', 'word', 'position') }}
        from (
            select {{ key }}, {{ clm.regexp_matches('lower(' ~ text ~ ')', "'[a-z'']+'") }} as words
            from {{ texts }}
            where {{ text }} is not null
        ) as texts
    ) as tokens
    left join {{ ref('sentiment_lexicon') }} as lexicon on lexicon.word = tokens.word
) as polarities
group by polarities.{{ key }}
{%- endmacro %}
