{#- The label of a sentiment score in [-1, 1]: negative up to -1/3, positive from 1/3, neutral
    between; NULL for NULL. The lexicon's labels and the customers' review segments use it. -#}
{% macro sentiment_label(score) -%}
    case
        when {{ score }} <= -1 / 3 then 'negative'
        when {{ score }} >= 1 / 3 then 'positive'
        when {{ score }} is not null then 'neutral'
    end
{%- endmacro %}
