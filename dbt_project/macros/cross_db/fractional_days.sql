{#- Days from one timestamp to a later one, with the fraction (12 hours is 0.5). -#}
{% macro fractional_days(start_timestamp, end_timestamp) -%}
    {{ return(adapter.dispatch('fractional_days', 'clm')(start_timestamp, end_timestamp)) }}
{%- endmacro %}

{% macro default__fractional_days(start_timestamp, end_timestamp) -%}
    (extract(epoch from {{ end_timestamp }}) - extract(epoch from {{ start_timestamp }})) / 86400.0
{%- endmacro %}

{% macro duckdb__fractional_days(start_timestamp, end_timestamp) -%}
    (epoch({{ end_timestamp }}) - epoch({{ start_timestamp }})) / 86400.0
{%- endmacro %}

{% macro spark__fractional_days(start_timestamp, end_timestamp) -%}
    (unix_micros({{ end_timestamp }}) - unix_micros({{ start_timestamp }})) / 86400000000.0
{%- endmacro %}
