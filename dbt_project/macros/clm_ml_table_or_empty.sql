{#- A query on the table `table` that the ml package writes into the build schema during a run
    (source clm_ml), or, where no step has written it yet (no classifier trained), an empty
    query with the same columns: `columns` is {name: type}, in the order to select them. -#}
{% macro clm_ml_table_or_empty(table, columns) -%}
{%- set written = adapter.get_relation(database=target.database, schema=target.schema, identifier=table) -%}
{%- if written is not none -%}
    select {{ columns.keys() | join(', ') }} from {{ source('clm_ml', table) }}
{%- else -%}
    select {% for name, type in columns.items() %}cast(null as {{ type }}) as {{ name }}{{ ', ' if not loop.last }}{% endfor %}
    where false
{%- endif %}
{%- endmacro %}
