{#- The rows to add to customer_scores on its first build in a warehouse: the score history a
    clm from before this model published (older DuckDB warehouses kept it only in analytics),
    with the dates `staged` does not hold. Columns are matched by name: older rows lack the
    later ones. -#}
{% macro scores_kept_from_before(staged) -%}
    {{ return(adapter.dispatch('scores_kept_from_before', 'clm')(staged)) }}
{%- endmacro %}

{#- Engines other than DuckDB came with this model: there is no older history to keep. -#}
{% macro default__scores_kept_from_before(staged) -%}
{%- endmacro %}

{% macro duckdb__scores_kept_from_before(staged) -%}
    {%- set published = adapter.get_relation(database=target.database, schema='analytics', identifier='customer_scores') -%}
    {%- if published is not none %}
union all by name
select * from {{ published }}
where as_of not in (select as_of from {{ staged }})
    {%- endif %}
{%- endmacro %}
