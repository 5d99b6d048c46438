{#- An unnamed struct of the values, compared field by field: min_by(x, tuple_of(a, b)) takes x
    of the smallest a, ties broken by b. -#}
{% macro tuple_of() -%}
    {{ return(adapter.dispatch('tuple_of', 'clm')(varargs)) }}
{%- endmacro %}

{% macro default__tuple_of(values) -%}
    row({{ values | join(', ') }})
{%- endmacro %}

{% macro spark__tuple_of(values) -%}
    struct({{ values | join(', ') }})
{%- endmacro %}
