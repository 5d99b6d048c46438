{#- A hook that sets column to value on the relation's rows where it is NULL. -#}
{% macro fill_nulls(relation, column, value) -%}
    {{ return(adapter.dispatch('fill_nulls', 'clm')(relation, column, value)) }}
{%- endmacro %}

{% macro default__fill_nulls(relation, column, value) -%}
    update {{ relation }} set {{ column }} = {{ value }} where {{ column }} is null
{%- endmacro %}

{#- Spark's Parquet tables take no UPDATE; the rows that need it (scores from before clm had
    model families) exist only in older DuckDB warehouses. -#}
{% macro spark__fill_nulls(relation, column, value) -%}
{%- endmacro %}
